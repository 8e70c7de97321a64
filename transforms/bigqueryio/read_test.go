package bigqueryio

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/transforms/interactions"
	"google.golang.org/grpc/codes"
)

func init() {
	register.Function1x1(userOf)
	register.Function3x0(readMoreThanOnce)
	register.Emitter1[string]()
}

func userOf(e interactions.Event) string { return e.User }

// readMoreThanOnce flags a user id, one per row, not counted exactly once.
func readMoreThanOnce(user string, n int, emit func(string)) {
	if n != 1 {
		emit(fmt.Sprintf("%s read %d times", user, n))
	}
}

// TestReadTable reads a table through a pipeline: only the spec's columns
// are requested, the row filter is pushed down, the session has a snapshot
// time and the stream cap, and every stream is read.
func TestReadTable(t *testing.T) {
	srv := bigquerytest.New(t)
	srv.BatchRows = 7
	srv.AddTable("proj.ds.events", interactionTable(100))
	opts := serverOptions(srv)
	opts.MaxStreams, opts.RowFilter = 3, "action = 'purchase'"

	p, s := beam.NewPipelineWithRoot()
	before := time.Now()
	res, err := Read(s, "bq://proj.ds.events", actionSpec, opts)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	var want []any
	for _, e := range interactionEvents(100) {
		if e.(interactions.Event).Weight == 3 {
			want = append(want, e)
		}
	}
	passert.Equals(s, interactions.Unbatch(s, res.Batches), want...)
	passert.Empty(s, res.Dead)
	passert.Equals(s, res.Stats, interactions.Stats{Rows: int64(len(want))})
	pr := ptest.RunAndValidate(t, p)
	if got := counter(pr, "rows"); got != int64(len(want)) {
		t.Errorf("counter interactions/rows = %d, want %d", got, len(want))
	}

	reqs := srv.SessionRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d CreateReadSession calls, want 1", len(reqs))
	}
	req := reqs[0]
	rs := req.GetReadSession()
	if got, want := req.GetParent(), "projects/proj"; got != want {
		t.Errorf("parent = %q, want %q (the table's project by default)", got, want)
	}
	if got, want := rs.GetTable(), "projects/proj/datasets/ds/tables/events"; got != want {
		t.Errorf("table = %q, want %q", got, want)
	}
	if got, want := rs.GetReadOptions().GetSelectedFields(), []string{"user", "item", "action", "ts"}; !slices.Equal(got, want) {
		t.Errorf("selected fields = %q, want %q (not payload)", got, want)
	}
	if got := rs.GetReadOptions().GetRowRestriction(); got != opts.RowFilter {
		t.Errorf("row restriction = %q, want %q", got, opts.RowFilter)
	}
	snap := rs.GetTableModifiers().GetSnapshotTime()
	if snap == nil || snap.AsTime().Before(before) || snap.AsTime().After(after) {
		t.Errorf("snapshot time = %v, want the construction time in [%v, %v]", snap, before, after)
	}
	if got := req.GetMaxStreamCount(); got != 3 {
		t.Errorf("max stream count = %d, want 3", got)
	}
	if got := len(srv.ReadRowsRequests()); got != 3 {
		t.Errorf("%d ReadRows calls, want one per stream, 3", got)
	}
}

// TestReadBadRows sends NULLs, empty ids and unknown actions to the dead
// letter with their reasons, and counts them.
func TestReadBadRows(t *testing.T) {
	srv := bigquerytest.New(t)
	tab := interactionTable(6)
	ts := base.Add(250 * time.Millisecond)
	tab.Rows = append(tab.Rows,
		[]any{nil, "i1", "x", "view", ts},
		[]any{" ", "i1", "x", "view", ts},
		[]any{"u1", nil, "x", "view", ts},
		[]any{"u1", "i1", "x", "click", ts},
		[]any{"u1", "i1", "x", nil, ts},
		[]any{"u1", "i\"2", "x", "cart", nil},
	)
	srv.AddTable("proj.ds.events", tab)
	p, s := beam.NewPipelineWithRoot()
	res, err := Read(s, "bq://proj.ds.events", actionSpec, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	const when = `"ts":"2024-03-01T00:00:00.25Z"`
	dl := func(reason, line string) interactions.DeadLetter {
		return interactions.DeadLetter{Reason: reason, File: "bq://proj.ds.events", Line: line}
	}
	passert.Equals(s, res.Dead,
		dl("empty_user", `{"user":null,"item":"i1","action":"view",`+when+`}`),
		dl("empty_user", `{"user":" ","item":"i1","action":"view",`+when+`}`),
		dl("empty_item", `{"user":"u1","item":null,"action":"view",`+when+`}`),
		dl("unknown_action", `{"user":"u1","item":"i1","action":"click",`+when+`}`),
		dl("unknown_action", `{"user":"u1","item":"i1","action":null,`+when+`}`),
		dl("bad_time", `{"user":"u1","item":"i\"2","action":"cart","ts":null}`),
	)
	passert.Equals(s, interactions.Unbatch(s, res.Batches), interactionEvents(6)...)
	passert.Equals(s, res.Stats, interactions.Stats{Rows: 12, Bad: 6})
	pr := ptest.RunAndValidate(t, p)
	for name, want := range map[string]int64{
		"rows": 12, "bad_empty_user": 2, "bad_empty_item": 1, "bad_unknown_action": 2, "bad_bad_time": 1,
	} {
		if got := counter(pr, name); got != want {
			t.Errorf("counter interactions/%s = %d, want %d", name, got, want)
		}
	}
}

// TestReadResumesBrokenStreams breaks streams mid-read and checks that each
// is resumed at the offset of its first unread row and that every row is
// read exactly once.
func TestReadResumesBrokenStreams(t *testing.T) {
	const rows, streams = 60, 3
	for _, tc := range []struct {
		name string
		brk  bigquerytest.Break
	}{
		{"unavailable once, mid-batch", bigquerytest.Break{AfterRows: 10, Times: 1}},
		{"unavailable at every call", bigquerytest.Break{AfterRows: 7, Times: -1}},
		{"RST_STREAM twice", bigquerytest.Break{AfterRows: 5, Times: 2, Code: codes.Internal,
			Message: "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"}},
		{"deadline exceeded once", bigquerytest.Break{AfterRows: 13, Times: 1, Code: codes.DeadlineExceeded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := bigquerytest.New(t)
			srv.BatchRows = 4
			srv.AddTable("proj.ds.events", interactionTable(rows))
			srv.BreakStreams("proj.ds.events", tc.brk)
			opts := serverOptions(srv)
			opts.MaxStreams = streams

			p, s := beam.NewPipelineWithRoot()
			res, err := Read(s, "bq://proj.ds.events", actionSpec, opts)
			if err != nil {
				t.Fatal(err)
			}
			passert.Equals(s, interactions.Unbatch(s, res.Batches), interactionEvents(rows)...)
			counts := stats.Count(s, beam.ParDo(s, userOf, interactions.Unbatch(s, res.Batches)))
			passert.Empty(s, beam.ParDo(s, readMoreThanOnce, counts))
			passert.Equals(s, res.Stats, interactions.Stats{Rows: rows})
			ptest.RunAndValidate(t, p)
			if got := srv.RowsServed(); got != rows {
				t.Errorf("the server sent %d rows, want each of the %d once", got, rows)
			}

			got := map[string][]int64{}
			for _, r := range srv.ReadRowsRequests() {
				got[r.GetReadStream()] = append(got[r.GetReadStream()], r.GetOffset())
			}
			if len(got) != streams {
				t.Fatalf("read %d streams, want %d", len(got), streams)
			}
			want := resumeOffsets(rows/streams, tc.brk)
			for name, offs := range got {
				slices.Sort(offs)
				if !slices.Equal(offs, want) {
					t.Errorf("stream %s read from offsets %v, want %v", name, offs, want)
				}
			}
		})
	}
}

// resumeOffsets are the offsets a stream of n rows is read from when
// calls break as b says.
func resumeOffsets(n int, b bigquerytest.Break) []int64 {
	offs := []int64{0}
	for call := 0; (b.Times < 0 || call < b.Times) && int(offs[call])+b.AfterRows < n; call++ {
		offs = append(offs, offs[call]+int64(b.AfterRows))
	}
	return offs
}

// TestReadGivesUp stops retrying a stream that breaks before any row.
func TestReadGivesUp(t *testing.T) {
	srv := bigquerytest.New(t)
	srv.AddTable("proj.ds.events", interactionTable(10))
	srv.BreakStreams("proj.ds.events", bigquerytest.Break{AfterRows: 0, Times: -1})
	opts := serverOptions(srv)
	opts.MaxStreams = 1
	_, _, err := readDirect(t, "bq://proj.ds.events", actionSpec, opts)
	if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") {
		t.Fatalf("err = %v, want giving up after 4 attempts", err)
	}
	if got := len(srv.ReadRowsRequests()); got != 4 {
		t.Errorf("%d ReadRows calls, want 4", got)
	}
}

// TestReadFailsFast checks what makes construction fail, and that the
// message names the table or column and what to fix.
func TestReadFailsFast(t *testing.T) {
	table := interactionTable(3)
	boolUser := bigquerytest.Table{Columns: []bigquerytest.Column{
		{Name: "user", Type: "BOOL"}, {Name: "item", Type: "STRING"},
		{Name: "action", Type: "STRING"}, {Name: "ts", Type: "TIMESTAMP"},
	}}
	dateTime := bigquerytest.Table{Columns: []bigquerytest.Column{
		{Name: "user", Type: "STRING"}, {Name: "item", Type: "STRING"},
		{Name: "action", Type: "STRING"}, {Name: "ts", Type: "DATE"},
	}}
	noTime := actionSpec
	noTime.TimeField = "when"
	for _, tc := range []struct {
		name  string
		input string
		tab   *bigquerytest.Table
		fault codes.Code
		spec  interactions.Spec
		want  []string
	}{
		{"missing table", "bq://proj.ds.missing", nil, codes.OK, actionSpec,
			[]string{"bq://proj.ds.missing: not found", "check the project, dataset and table names"}},
		{"permission denied", "bq://proj.ds.events", &table, codes.PermissionDenied, actionSpec,
			[]string{"bq://proj.ds.events: permission denied", "roles/bigquery.readSessionUser on project proj", "roles/bigquery.dataViewer on the table"}},
		{"missing column", "bq://proj.ds.events", &table, codes.OK, noTime,
			[]string{"selected fields do not exist", "when"}},
		{"unsupported user type", "bq://proj.ds.events", &boolUser, codes.OK, actionSpec,
			[]string{`column "user" (--user_field) is BOOL, want STRING or INT64`}},
		{"unsupported time type", "bq://proj.ds.events", &dateTime, codes.OK, actionSpec,
			[]string{`column "ts" (--time_field) is DATE, want TIMESTAMP or INT64`}},
		{"malformed name", "bq://events", nil, codes.OK, actionSpec,
			[]string{`--input: "bq://events" is not bq://PROJECT.DATASET.TABLE`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := bigquerytest.New(t)
			if tc.tab != nil {
				srv.AddTable("proj.ds.events", *tc.tab)
			}
			srv.FailTable("proj.ds.events", tc.fault)
			_, s := beam.NewPipelineWithRoot()
			_, err := Read(s, tc.input, tc.spec, serverOptions(srv))
			if err == nil {
				t.Fatal("Read succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestReadFailsAtRunTime loses the permission after construction: the
// stream fails at once (no retry) with what to fix.
func TestReadFailsAtRunTime(t *testing.T) {
	srv := bigquerytest.New(t)
	srv.AddTable("proj.ds.events", interactionTable(10))
	opts := serverOptions(srv)
	opts.MaxStreams = 1
	p, s := beam.NewPipelineWithRoot()
	if _, err := Read(s, "bq://proj.ds.events", actionSpec, opts); err != nil {
		t.Fatal(err)
	}
	srv.FailTable("proj.ds.events", codes.PermissionDenied)
	err := ptest.Run(p)
	if err == nil {
		t.Fatal("the pipeline succeeded, want a permission error")
	}
	for _, w := range []string{"bq://proj.ds.events: permission denied", "roles/bigquery.readSessionUser"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	// Beam may retry the bundle, but the reader itself must not.
	for _, r := range srv.ReadRowsRequests() {
		if r.GetOffset() != 0 {
			t.Errorf("ReadRows retried at offset %d after a permanent error", r.GetOffset())
		}
	}
}

// TestReadEmptyTable has no stream yet a zero total.
func TestReadEmptyTable(t *testing.T) {
	srv := bigquerytest.New(t)
	srv.AddTable("proj.ds.events", interactionTable(0))
	p, s := beam.NewPipelineWithRoot()
	res, err := Read(s, "bq://proj.ds.events", actionSpec, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	passert.Empty(s, interactions.Unbatch(s, res.Batches))
	passert.Equals(s, res.Stats, interactions.Stats{})
	ptest.RunAndValidate(t, p)
}

func TestParseTable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Table
		err  bool
	}{
		{in: "bq://p.d.t", want: Table{"p", "d", "t"}},
		{in: "p.d.t", want: Table{"p", "d", "t"}},
		{in: "bq://p:d.t", want: Table{"p", "d", "t"}},
		{in: "bq://example.com:p.d.t", want: Table{"example.com:p", "d", "t"}},
		{in: "bq://d.t", err: true},
		{in: "bq://p..t", err: true},
		{in: "bq://", err: true},
	} {
		got, err := ParseTable(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseTable(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && fmt.Sprint(got) != "bq://"+got.Project+"."+got.Dataset+"."+got.Table {
			t.Errorf("String() = %q", got)
		}
	}
}
