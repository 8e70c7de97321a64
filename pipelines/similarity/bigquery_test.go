package main

import (
	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/internal/jobtest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fixtureTable is the fixture's rows as a BigQuery table would hold them:
// the action an INT64, the time a TIMESTAMP.
func fixtureTable(t *testing.T) bigquerytest.Table {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(readFile(t, fixture), "\n"), "\n")
	tab := bigquerytest.Table{Columns: []bigquerytest.Column{
		{Name: "user", Type: "STRING"}, {Name: "productSku", Type: "STRING"},
		{Name: "type", Type: "INT64"}, {Name: "time", Type: "TIMESTAMP"},
	}}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		typ, err1 := strconv.ParseInt(f[2], 10, 64)
		unix, err2 := strconv.ParseInt(f[3], 10, 64)
		if len(f) != 4 || err1 != nil || err2 != nil {
			t.Fatalf("fixture line %q", line)
		}
		tab.Rows = append(tab.Rows, []any{f[0], f[1], typ, time.Unix(unix, 0)})
	}
	return tab
}

// TestBigQueryMatchesFile reads the fixture from a file, from a BigQuery
// table and from a query's result (in-process BigQuery, real clients) and
// checks that the outputs are byte-identical.
func TestBigQueryMatchesFile(t *testing.T) {
	const query = "SELECT user, productSku, type, time FROM `proj.ds.events` WHERE time >= @since"
	srv := bigquerytest.New(t)
	tab := fixtureTable(t)
	srv.AddTable("proj.ds.events", tab)
	srv.AddQuery(query, tab)
	dir := t.TempDir()
	common := []string{"--time_field=time", "--since=2019-10-15", "--bq_endpoint=" + srv.URL, "--bq_storage_endpoint=" + srv.Addr}

	out := func(name string) string { return filepath.Join(dir, name+".jsonl") }
	mustRun(t, append(common, "--input="+fixture, "--output="+out("file"))...)
	res := mustRun(t, append(common, "--input=bq://proj.ds.events", "--bq_streams=3", "--output="+out("table"))...)
	if n := jobtest.Counter(res, "interactions/rows"); n != int64(len(tab.Rows)) {
		t.Errorf("table: interactions/rows = %d, want %d", n, len(tab.Rows))
	}
	mustRun(t, append(common, "--input=", "--input_query="+query, "--bq_project=billing", "--output="+out("query"))...)

	want := readFile(t, out("file"))
	if want == "" {
		t.Fatal("the file run wrote no output")
	}
	for _, name := range []string{"table", "query"} {
		if got := readFile(t, out(name)); got != want {
			t.Errorf("%s output (%d bytes) differs from the file output (%d bytes)", name, len(got), len(want))
		}
	}
}

// TestBigQueryRelativeWindow: a nightly query names its window @since and
// @until, and a relative window fills them with the window the run prints,
// which the run also applies: the output equals a file run's over the same
// absolute bounds.
func TestBigQueryRelativeWindow(t *testing.T) {
	const query = "SELECT user, productSku, type, time FROM `proj.ds.events` WHERE time >= @since AND time < @until"
	srv := bigquerytest.New(t)
	tab := fixtureTable(t)
	srv.AddQuery(query, tab)
	dir := t.TempDir()
	// The night of October 17, 2019, 02:30: the three days before its midnight.
	mustRun(t, "--time_field=time", "--input=", "--input_query="+query, "--bq_project=billing", "--bq_endpoint="+srv.URL, "--bq_storage_endpoint="+srv.Addr,
		"--run_time=2019-10-17T02:30:00Z", "--window=72h", "--output="+filepath.Join(dir, "query.jsonl"))
	jobs := srv.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d query jobs, want 1", len(jobs))
	}
	got := map[string]string{}
	for _, p := range jobs[0].Configuration.Query.QueryParameters {
		got[p.Name] = p.ParameterType.Type + " " + p.ParameterValue.Value
	}
	want := map[string]string{"since": "TIMESTAMP 2019-10-14 00:00:00", "until": "TIMESTAMP 2019-10-17 00:00:00"}
	for name, w := range want {
		if !strings.HasPrefix(got[name], w) {
			t.Errorf("@%s = %q, want %s", name, got[name], w)
		}
	}
	mustRun(t, "--time_field=time", "--input_query=", "--input="+fixture, "--window=0", "--since=2019-10-14", "--until=2019-10-17", "--output="+filepath.Join(dir, "file.jsonl"))
	if q, f := readFile(t, filepath.Join(dir, "query.jsonl")), readFile(t, filepath.Join(dir, "file.jsonl")); q != f || f == "" {
		t.Errorf("the query run's output (%d bytes) differs from the file run's over the same bounds (%d bytes)", len(q), len(f))
	}
}
