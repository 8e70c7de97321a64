package bigqueryio

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/transforms/interactions"
)

// ReadQuery runs sql, a standard SQL query, as a job billed to
// opts.BillingProject, waits for it, and reads its anonymous result table
// as Read reads a table. The query runs now, at pipeline construction: its
// result table lives 24 hours, the read session 6. A query that names
// @since or @until gets them as TIMESTAMP parameters from opts.Since and
// opts.Until, which must then be set.
func ReadQuery(s beam.Scope, sql string, spec interactions.Spec, opts Options) (interactions.Result, error) {
	if opts.BillingProject == "" {
		return interactions.Result{}, fmt.Errorf("--input_query needs --bq_project, the project that runs and pays for the query job")
	}
	if _, err := interactions.NewFieldParser(spec); err != nil {
		return interactions.Result{}, err
	}
	params, err := queryParameters(sql, opts.Since, opts.Until)
	if err != nil {
		return interactions.Result{}, err
	}
	t, err := runQuery(context.Background(), sql, params, opts)
	if err != nil {
		return interactions.Result{}, err
	}
	// A result table is written once and is seconds old: a snapshot time
	// would add nothing but the risk of one before its creation.
	return readTable(s.Scope("bigqueryio.ReadQuery"), t, spec, opts, false)
}

var (
	sinceRE = regexp.MustCompile(`(?i)@since\b`)
	untilRE = regexp.MustCompile(`(?i)@until\b`)
)

// queryParameters are the @since and @until parameters sql names. Only
// those are sent, so a query that uses neither runs with none.
func queryParameters(sql string, since, until int64) ([]bigquery.QueryParameter, error) {
	var params []bigquery.QueryParameter
	for _, p := range []struct {
		name string
		re   *regexp.Regexp
		unix int64
	}{{"since", sinceRE, since}, {"until", untilRE, until}} {
		if !p.re.MatchString(sql) {
			continue
		}
		if p.unix == 0 {
			return nil, fmt.Errorf("--input_query uses @%s: pass --%s", p.name, p.name)
		}
		params = append(params, bigquery.QueryParameter{Name: p.name, Value: time.Unix(p.unix, 0).UTC()})
	}
	return params, nil
}

// runQuery runs a query job to completion and returns its result table.
func runQuery(ctx context.Context, sql string, params []bigquery.QueryParameter, opts Options) (Table, error) {
	c, err := newBigQueryClient(ctx, opts.BillingProject, opts.Endpoint)
	if err != nil {
		return Table{}, err
	}
	defer c.Close()
	q := c.Query(sql)
	q.Parameters = params
	job, err := q.Run(ctx)
	if err != nil {
		return Table{}, explainQuery(err, opts.BillingProject)
	}
	st, err := job.Wait(ctx)
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		return Table{}, explainQuery(fmt.Errorf("job %s: %w", job.ID(), err), opts.BillingProject)
	}
	// The job as inserted may not name its anonymous destination yet.
	done, err := c.JobFromProject(ctx, job.ProjectID(), job.ID(), job.Location())
	if err != nil {
		return Table{}, explainQuery(fmt.Errorf("job %s: %w", job.ID(), err), opts.BillingProject)
	}
	conf, err := done.Config()
	if err != nil {
		return Table{}, fmt.Errorf("--input_query: job %s: %v", job.ID(), err)
	}
	qc, ok := conf.(*bigquery.QueryConfig)
	if !ok || qc.Dst == nil {
		return Table{}, fmt.Errorf("--input_query: job %s has no result table: the query must be a single SELECT, not a script", job.ID())
	}
	return Table{Project: qc.Dst.ProjectID, Dataset: qc.Dst.DatasetID, Table: qc.Dst.TableID}, nil
}
