package bigqueryio

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/transforms/interactions"
)

const windowQuery = "SELECT user, item, action, ts FROM `proj.ds.raw` WHERE ts >= @since AND ts < @until"

// TestReadQuery runs a query job with the window's parameters through the
// REST API, then reads its result table over the Storage Read API.
func TestReadQuery(t *testing.T) {
	srv := bigquerytest.New(t)
	tab := interactionTable(30)
	tab.Rows = append(tab.Rows, []any{"u1", "i1", "x", "click", base})
	srv.AddQuery(windowQuery, tab)
	opts := serverOptions(srv)
	opts.BillingProject = "billing"
	since, until := base, base.Add(24*time.Hour)
	opts.Since, opts.Until = since.Unix(), until.Unix()

	p, s := beam.NewPipelineWithRoot()
	res, err := ReadQuery(s, windowQuery, actionSpec, opts)
	if err != nil {
		t.Fatal(err)
	}
	passert.Equals(s, interactions.Unbatch(s, res.Batches), interactionEvents(30)...)
	passert.Equals(s, res.Dead, interactions.DeadLetter{
		Reason: "unknown_action", File: "bq://billing._anon.anon1",
		Line: `{"user":"u1","item":"i1","action":"click","ts":"2024-03-01T00:00:00Z"}`,
	})
	passert.Equals(s, res.Stats, interactions.Stats{Rows: 31, Bad: 1})
	ptest.RunAndValidate(t, p)

	jobs := srv.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs inserted, want 1", len(jobs))
	}
	q := jobs[0].Configuration.Query
	if q.Query != windowQuery || q.UseLegacySql == nil || *q.UseLegacySql {
		t.Errorf("query %q, legacy SQL %v; want %q in standard SQL", q.Query, q.UseLegacySql, windowQuery)
	}
	got := map[string]time.Time{}
	for _, p := range q.QueryParameters {
		if p.ParameterType.Type != "TIMESTAMP" {
			t.Errorf("parameter @%s is a %s, want TIMESTAMP", p.Name, p.ParameterType.Type)
		}
		v, err := time.Parse("2006-01-02 15:04:05.999999-07:00", p.ParameterValue.Value)
		if err != nil {
			t.Errorf("parameter @%s = %q: %v", p.Name, p.ParameterValue.Value, err)
		}
		got[p.Name] = v
	}
	if len(got) != 2 || !got["since"].Equal(since) || !got["until"].Equal(until) {
		t.Errorf("parameters %v, want since=%v until=%v", got, since, until)
	}
	reqs := srv.SessionRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d CreateReadSession calls, want 1", len(reqs))
	}
	if got, want := reqs[0].GetParent(), "projects/billing"; got != want {
		t.Errorf("parent = %q, want %q", got, want)
	}
	if got, want := reqs[0].GetReadSession().GetTable(), "projects/billing/datasets/_anon/tables/anon1"; got != want {
		t.Errorf("session table = %q, want the job's destination %q", got, want)
	}
	if m := reqs[0].GetReadSession().GetTableModifiers(); m != nil {
		t.Errorf("table modifiers %v on a result table, want none: it never changes", m)
	}
	if got, want := reqs[0].GetReadSession().GetReadOptions().GetSelectedFields(), []string{"user", "item", "action", "ts"}; !slices.Equal(got, want) {
		t.Errorf("selected fields = %q, want %q", got, want)
	}
}

// TestReadQueryFails checks the messages of a query that cannot run.
func TestReadQueryFails(t *testing.T) {
	const denied, invalid = "SELECT 1 AS denied", "SELEC nonsense"
	for _, tc := range []struct {
		name    string
		sql     string
		billing string
		since   int64
		want    []string
	}{
		{"no billing project", windowQuery, "", 1, []string{"--input_query needs --bq_project"}},
		{"parameter without flag", windowQuery, "billing", 0, []string{"--input_query uses @since: pass --since"}},
		{"access denied", denied, "billing", 0, []string{"permission denied", "roles/bigquery.jobUser on project billing", "Access Denied: Table proj:ds.raw"}},
		{"invalid query", invalid, "billing", 0, []string{"--input_query: job", "Syntax error: Unexpected identifier"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := bigquerytest.New(t)
			srv.FailQuery(denied, "accessDenied", "Access Denied: Table proj:ds.raw: User does not have permission to query table proj:ds.raw")
			srv.FailQuery(invalid, "invalidQuery", "Syntax error: Unexpected identifier \"SELEC\" at [1:1]")
			opts := serverOptions(srv)
			opts.BillingProject, opts.Since, opts.Until = tc.billing, tc.since, tc.since
			_, s := beam.NewPipelineWithRoot()
			_, err := ReadQuery(s, tc.sql, actionSpec, opts)
			if err == nil {
				t.Fatal("ReadQuery succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestQueryParameters(t *testing.T) {
	for _, tc := range []struct {
		sql          string
		since, until int64
		want         []string // parameter names sent
		err          bool
	}{
		{sql: "SELECT 1", since: 10, until: 20},
		{sql: "SELECT 1 WHERE t >= @since", since: 10, want: []string{"since"}},
		{sql: "SELECT 1 WHERE t >= @SINCE AND t < @until", since: 10, until: 20, want: []string{"since", "until"}},
		{sql: "SELECT 1 WHERE t < @until", since: 10, err: true},
		{sql: "SELECT 1 WHERE t < @untilx", want: nil},
	} {
		params, err := queryParameters(tc.sql, tc.since, tc.until)
		var names []string
		for _, p := range params {
			names = append(names, p.Name)
			if v, ok := p.Value.(time.Time); !ok || (p.Name == "since" && v.Unix() != tc.since) || (p.Name == "until" && v.Unix() != tc.until) {
				t.Errorf("%q: @%s = %v", tc.sql, p.Name, p.Value)
			}
		}
		if (err != nil) != tc.err || !slices.Equal(names, tc.want) {
			t.Errorf("queryParameters(%q) = %v, %v; want %v, error %v", tc.sql, names, err, tc.want, tc.err)
		}
	}
}
