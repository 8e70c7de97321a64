package datastoreio

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
)

func TestWriteOrder(t *testing.T) { testWriteOrder(t, fake(newServer(t))) }

// night is the window of the run of the night after November d: 30 days
// ending at that midnight.
func night(d int) publish.Window {
	end := time.Date(2026, 11, d+1, 0, 0, 0, 0, time.UTC)
	return publish.Window{Start: end.Add(-720 * time.Hour), End: end}
}

// runOrdered writes ns as cfg's version and returns the entities the write
// reports and its publish_refused counter.
func runOrdered(t *testing.T, cfg Config, ns []model.Neighbors, wantWritten int) int64 {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, Write(s, cfg, beam.CreateList(s, ns)), wantWritten)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("writing %s: %v", cfg.Version, err)
	}
	var refused int64
	for _, c := range res.Metrics().Query(func(r beammetrics.SingleResult) bool { return r.Name() == metricRefused }).Counters() {
		refused += c.Result()
	}
	return refused
}

// testWriteOrder: each marker records its window; Live describes the sink
// as a preflight sees it; a version whose window ends before the live
// one's is refused at the pointer (counted, deleted, the pointer and the
// live items untouched), while the same day under a new id, and any
// version over one written before windows, is published.
func testWriteOrder(t *testing.T, b backend) {
	ctx := context.Background()
	items := itemIDs("item-", 0, 30)
	cfg := func(v string, w publish.Window) Config {
		c := testConfig(b, v)
		c.Window = w
		return c
	}
	// A version from before windows: written, then its window cleared.
	if n := runOrdered(t, testConfig(b, "old"), neighbors(items, 3, 0), len(items)); n != 0 {
		t.Fatalf("old: refused %d", n)
	}
	client := datastoretest.Client(t, testProject, b.addr)
	keys := simstore.Keys{Kind: simstore.DefaultKind}
	var info simstore.VersionInfo
	if err := client.Get(ctx, keys.Version("old"), &info); err != nil || time.Since(info.WindowEnd) > time.Hour {
		t.Fatalf("old's marker: window end %s, %v; want the run's start, as a run without a window records", info.WindowEnd, err)
	}
	info.WindowStart, info.WindowEnd = time.Time{}, time.Time{}
	if _, err := client.Put(ctx, keys.Version("old"), &info); err != nil {
		t.Fatal(err)
	}
	if n := runOrdered(t, cfg("day2", night(2)), neighbors(items, 3, 2), len(items)); n != 0 {
		t.Fatalf("day2 over a version without a window: refused %d", n)
	}
	if err := client.Get(ctx, keys.Version("day2"), &info); err != nil || !info.WindowStart.Equal(night(2).Start) || !info.WindowEnd.Equal(night(2).End) {
		t.Errorf("day2's marker: window [%s, %s), %v; want %+v", info.WindowStart, info.WindowEnd, err, night(2))
	}

	sink, err := Live(ctx, cfg("day1", night(1)))
	if err != nil || sink.Live != "day2" || !sink.LiveEnd.Equal(night(2).End) || sink.Has {
		t.Errorf("Live for day1: %+v, %v; want day2 live until %s, day1 absent", sink, err, night(2).End)
	}
	if done, err := publish.Preflight("day1", night(1).End, []publish.Sink{sink}); done || !publish.IsStale(err) {
		t.Errorf("Preflight of day1 after day2: done %v, %v; want stale", done, err)
	}
	// The preflight is bypassed (as by a run that started before day2
	// published): the pointer refuses.
	if n := runOrdered(t, cfg("day1", night(1)), neighbors(items, 3, 1), 0); n != 1 {
		t.Errorf("day1 after day2: publish_refused %d, want 1", n)
	}
	st := snapshot(t, b, simstore.DefaultKind)
	if st.pointer != "day2" || st.markers["day1"] != "" || len(st.items["day1"]) != 0 {
		t.Errorf("after the refused day1: pointer %q, day1's marker %q and %d items; want day2 live and nothing of day1", st.pointer, st.markers["day1"], len(st.items["day1"]))
	}
	checkItems(t, st, "day2", neighbors(items, 3, 2))

	// Day 2 again under a new id: the same window end may replace it.
	if n := runOrdered(t, cfg("day2-fix", night(2)), neighbors(items, 3, 3), len(items)); n != 0 {
		t.Errorf("day2-fix: refused %d", n)
	}
	sink, err = Live(ctx, cfg("day2-fix", night(2)))
	if err != nil || sink.Live != "day2-fix" || !sink.Has {
		t.Errorf("Live for day2-fix after it: %+v, %v; want it live and complete", sink, err)
	}
	if done, err := publish.Preflight("day2-fix", night(2).End, []publish.Sink{sink}); !done || err != nil {
		t.Errorf("Preflight of day2-fix again: done %v, %v; want done", done, err)
	}
	// With no window, a run's window ends at its start: later than day 2.
	if n := runOrdered(t, testConfig(b, "now"), neighbors(items, 3, 4), len(items)); n != 0 {
		t.Errorf("a run without a window: refused %d", n)
	}
}
