package main

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/incremental"
	"github.com/recsys/itemsim/transforms/interactions"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

const fixture = "../../testdata/interactions.csv"

// TestReplayEqualsBatchJob: the fixture replayed through the stream, and
// the batch similarity job run with --measure=corating --aggregate=max over
// the window taken at three bucket ends: the lists written up to each end
// equal the batch job's output there, every item and every score bit for
// bit; after the last bucket every list has been deleted.
func TestReplayEqualsBatchJob(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "updates")
	res, err := jobtest.RunJob(t, configFromFlags, run, "--input="+fixture, "--time_field=time", "--window=240h", "--slice=24h",
		"--emit_interval=24h", "--user_shards=2", "--item_shards=3", "--output="+out, "--beam_strict=true")
	if err != nil {
		t.Fatal(err)
	}
	if n := jobtest.Counter(res, "interactions/rows"); n != 5000 {
		t.Errorf("interactions/rows = %d, want 5000", n)
	}
	stores := storesAt(readUpdates(t, out))
	ends := slices.Sorted(maps.Keys(stores))
	if len(ends) < 30 {
		t.Fatalf("%d bucket ends with updates, want one a day over the fixture's 30 days and more", len(ends))
	}
	w := incremental.Window{Length: 240 * 3600, Slice: 24 * 3600, Emit: 24 * 3600}
	batch := jobtest.Build(t, dir, "pipelines/similarity")
	for _, end := range []int64{ends[4], ends[len(ends)/2], ends[25]} {
		store := stores[end]
		want := filepath.Join(dir, "batch-"+strconv.FormatInt(end, 10)+".jsonl")
		cmd := exec.Command(batch, "--input="+fixture, "--time_field=time", "--measure=corating", "--aggregate=max",
			"--since="+strconv.FormatInt(w.Since(end), 10), "--until="+strconv.FormatInt(end, 10), "--output="+want, "--popular_output=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("batch job: %v\n%s", err, b)
		}
		lists := jobtest.ReadJSONL[model.Neighbors](t, want)
		if len(lists) == 0 || len(lists) != len(store) {
			t.Fatalf("at %d: the batch job wrote %d lists, the stream holds %d", end, len(lists), len(store))
		}
		for _, l := range lists {
			if !slices.Equal(store[l.Item], l.Neighbors) {
				t.Fatalf("at %d: item %s: stream %v, batch %v", end, l.Item, store[l.Item], l.Neighbors)
			}
		}
		t.Logf("at %d, window [%d, %d): %d lists equal", end, w.Since(end), end, len(lists))
	}
	if last := stores[ends[len(ends)-1]]; len(last) != 0 {
		t.Errorf("%d lists left after the window passed every event", len(last))
	}
}

// TestBadRecordsAndFlags: a malformed record goes to the dead letter with
// its reason and the good ones still count; flags the stream cannot honour
// fail before the run.
func TestBadRecordsAndFlags(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "events.csv")
	rows := "user,productSku,type,time\nu1,A,3,1000\nu1,B,2,1010\nu2,A,1,1020\nu2,B,9,1030\nu2,C,3,not-a-time\nu2,B,3,1040\n"
	if err := os.WriteFile(in, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "updates")
	t.Run("run", func(t *testing.T) {
		if _, err := jobtest.RunJob(t, configFromFlags, run, "--input="+in, "--time_field=time", "--window=100s", "--slice=10s",
			"--emit_interval=10s", "--output="+out); err != nil {
			t.Fatal(err)
		}
	})
	var reasons []string
	for _, d := range jobtest.ReadJSONLParts[interactions.DeadLetter](t, out+".dead_letter") {
		reasons = append(reasons, d.Reason)
	}
	slices.Sort(reasons)
	if want := []string{"bad_time", "unknown_action"}; !slices.Equal(reasons, want) {
		t.Errorf("dead letter reasons %q, want %q", reasons, want)
	}
	// The hot list (one 10 s slice): u1's A at 1000 and B at 1010, u2's A
	// at 1020 and B at 1040, one user each, then nothing.
	var hot []string
	for _, h := range jobtest.ReadJSONLParts[incremental.HotList](t, out+".hot") {
		line := strconv.FormatInt(h.End, 10) + ":"
		for _, p := range h.Items {
			line += p.Item + strconv.FormatInt(p.Users, 10)
		}
		hot = append(hot, line)
	}
	slices.Sort(hot)
	if want := []string{"1010:A1", "1020:B1", "1030:A1", "1040:", "1050:B1", "1060:"}; !slices.Equal(slices.Compact(hot), want) {
		t.Errorf("hot lists %q, want %q", hot, want)
	}
	// The users' recent items (10 = --recent_n): as their events come
	// in, then as each event's slice leaves the 100 s window (the one at
	// 1000 when the bucket ending 1110 is applied), latest first.
	var recent []string
	for _, r := range jobtest.ReadJSONLParts[incremental.Recent](t, out+".recent") {
		line := fmt.Sprintf("%d:%s:", r.End, r.User)
		for _, x := range r.Items {
			line += fmt.Sprintf("%s@%d,", x.Item, x.Time)
		}
		recent = append(recent, line)
	}
	slices.Sort(recent)
	if want := []string{"1010:u1:A@1000,", "1020:u1:B@1010,A@1000,", "1030:u2:A@1020,", "1050:u2:B@1040,A@1020,",
		"1110:u1:B@1010,", "1120:u1:", "1130:u2:B@1040,", "1150:u2:"}; !slices.Equal(recent, want) {
		t.Errorf("recent items %q, want %q", recent, want)
	}
	// u1 and u2 both rate A and B (u2's B is 6, its 9 unknown): A·B's
	// co-ratings min(6,2) + min(0.5,6) = 2.5 of counts 6.5 and 8.
	updates := readUpdates(t, out)
	last := map[string][]model.Neighbor{}
	for _, u := range updates {
		if u.End <= 1050 {
			last[u.Item] = u.Neighbors
		}
	}
	if got := last["A"]; len(got) != 1 || got[0].Item != "B" || got[0].Score != 2.5/math.Sqrt(6.5*8) {
		t.Errorf("A's list after the events: %v, want B at 2.5/√52", got)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input=" + in, "--output=" + out}, "--time_field"},
		{[]string{"--output=" + out}, "--kafka_topic or --pubsub_subscription"},
		{[]string{"--input=" + in, "--kafka_topic=t", "--kafka_brokers=b:1", "--output=" + out}, "set one source"},
		{[]string{"--pubsub_subscription=projects/p/subscriptions/s", "--kafka_topic=t", "--kafka_brokers=b:1", "--output=" + out}, "set one source"},
		{[]string{"--pubsub_subscription=s", "--output=" + out}, "projects/PROJECT/subscriptions/NAME"},
		{[]string{"--pubsub_subscription=projects/p/subscriptions/s", "--pubsub_seek=later", "--output=" + out}, "--pubsub_seek"},
		{[]string{"--kafka_topic=t", "--output=" + out}, "--kafka_brokers"},
		{[]string{"--kafka_topic=t", "--kafka_brokers=b:1", "--kafka_start=soon", "--output=" + out}, "--kafka_start"},
		{[]string{"--kafka_topic=t", "--kafka_brokers=b:1", "--format=csv", "--output=" + out}, "0-based column index"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--slice=7h"}, "--window"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--emit_interval=1500ms"}, "whole seconds"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--min_similarity=0.1"}, "--min_similarity"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--hot_window=15s"}, "--hot_window"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--hot_n=-1"}, "--hot_n"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--recent_n=-1"}, "--recent_n"},
		{[]string{"--input=" + in, "--time_field=time", "--output=" + out, "--prune_delta=1"}, "--prune_delta"},
		{[]string{"--input=" + in, "--time_field=time"}, "--output or --datastore_project"},
		{[]string{"--input=" + in, "--time_field=time", "--datastore_project=p"}, "--dead_letter is required"},
		{[]string{"--input=" + in, "--time_field=time", "--datastore_project=p", "--dead_letter=" + out, "--datastore_kind=__x"}, "reserved"},
		{[]string{"--input=" + in, "--time_field=time", "--datastore_project=p", "--dead_letter=" + out, "--recent_n=1000"}, "recent_n 1000"},
	} {
		t.Run(c.want, func(t *testing.T) { // restores the flags after
			if _, err := jobtest.RunJob(t, configFromFlags, run, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: %v, want an error naming %s", c.args, err, c.want)
			}
		})
	}
}

func compareNeighbor(a, b model.Neighbor) int {
	return cmp.Or(strings.Compare(a.Item, b.Item), cmp.Compare(a.Score, b.Score))
}

// readUpdates reads a run's update parts, in bucket order.
func readUpdates(t *testing.T, prefix string) []incremental.Update {
	t.Helper()
	updates := jobtest.ReadJSONLParts[incremental.Update](t, prefix)
	if len(updates) == 0 {
		t.Fatalf("no updates at %s", prefix)
	}
	// Parts are written at least once: a line may come twice.
	slices.SortFunc(updates, func(a, b incremental.Update) int {
		return cmp.Or(cmp.Compare(a.End, b.End), strings.Compare(a.Item, b.Item), slices.CompareFunc(a.Neighbors, b.Neighbors, compareNeighbor))
	})
	return slices.CompactFunc(updates, func(a, b incremental.Update) bool {
		return a.End == b.End && a.Item == b.Item && slices.Equal(a.Neighbors, b.Neighbors)
	})
}
