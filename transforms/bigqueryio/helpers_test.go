package bigqueryio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

// base is the first event's time in the test tables.
var base = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

var actions = []string{"view", "cart", "purchase"}

// actionSpec reads the columns of interactionTable.
var actionSpec = interactions.Spec{
	UserField: "user", ItemField: "item", ActionField: "action", TimeField: "ts",
	Weights: model.Weights{"view": 1, "cart": 2, "purchase": 3},
}

// interactionTable holds n good rows, row i by user u%05d, and a column
// no spec reads.
func interactionTable(n int) bigquerytest.Table {
	t := bigquerytest.Table{Columns: []bigquerytest.Column{
		{Name: "user", Type: "STRING"},
		{Name: "item", Type: "STRING"},
		{Name: "payload", Type: "STRING"},
		{Name: "action", Type: "STRING"},
		{Name: "ts", Type: "TIMESTAMP"},
	}}
	for i := 0; i < n; i++ {
		t.Rows = append(t.Rows, []any{
			fmt.Sprintf("u%05d", i), fmt.Sprintf("i%d", i%50), "unread",
			actions[i%3], base.Add(time.Duration(i)*time.Second + 250*time.Millisecond),
		})
	}
	return t
}

// interactionEvents are the events of interactionTable(n).
func interactionEvents(n int) []any {
	var out []any
	for i := 0; i < n; i++ {
		out = append(out, interactions.Event{
			User: fmt.Sprintf("u%05d", i), Item: fmt.Sprintf("i%d", i%50),
			Weight: float64(i%3 + 1), Time: base.Unix() + int64(i), HasTime: true,
		})
	}
	return out
}

// serverOptions points a read at srv, retrying fast.
func serverOptions(srv *bigquerytest.Server) Options {
	return Options{Endpoint: srv.URL, StorageEndpoint: srv.Addr, RetryBackoff: time.Millisecond}
}

// counter sums a counter of namespace "interactions" over all steps.
func counter(pr beam.PipelineResult, name string) int64 {
	var n int64
	res := pr.Metrics().Query(func(r metrics.SingleResult) bool {
		return r.Namespace() == "interactions" && r.Name() == name
	})
	for _, c := range res.Counters() {
		n += c.Result()
	}
	return n
}

// readDirect reads every stream of a session on table through the stream
// reader and decoder, without Beam, one goroutine per stream.
func readDirect(t testing.TB, table string, spec interactions.Spec, opts Options) (events []interactions.Event, dead []interactions.DeadLetter, err error) {
	t.Helper()
	ctx := context.Background()
	tab, err := ParseTable(table)
	if err != nil {
		t.Fatal(err)
	}
	if opts.BillingProject == "" {
		opts.BillingProject = tab.Project
	}
	session, err := createSession(ctx, tab, selectedFields(spec), opts, true)
	if err != nil {
		return nil, nil, err
	}
	schema := session.GetArrowSchema().GetSerializedSchema()
	c, err := newStorageClient(ctx, opts.StorageEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(session.GetStreams()))
	for i, st := range session.GetStreams() {
		dec, err := newDecoder(schema, spec, tab.String())
		if err != nil {
			return nil, nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := retryPolicy{max: 3, backoff: time.Millisecond, maxBackoff: time.Millisecond}
			errs[i] = readStream(ctx, c, st.GetName(), p, func(b []byte) (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				return dec.decode(b, func(e interactions.Event) { events = append(events, e) },
					func(reason, row string) {
						dead = append(dead, interactions.DeadLetter{Reason: reason, File: tab.String(), Line: row})
					})
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return events, dead, err
		}
	}
	return events, dead, nil
}
