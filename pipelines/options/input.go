package options

import (
	"flag"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/transforms/bigqueryio"
	"github.com/recsys/itemsim/transforms/interactions"
)

// Input are the flags that name a batch job's interactions: files (local
// or gs://) or a BigQuery table or query (see docs/bigquery.md).
type Input struct {
	input, query, bqRowFilter, bqProject, bqEndpoint, bqStorageEndpoint *string
	bqStreams                                                           *int
}

// RegisterInput registers --input, --input_query, --bq_streams,
// --bq_row_filter, --bq_project, --bq_endpoint and --bq_storage_endpoint on
// fs.
func RegisterInput(fs *flag.FlagSet) *Input {
	return &Input{
		input:             fs.String("input", "", "Interactions: a local path or glob, gs://bucket/glob, or bq://PROJECT.DATASET.TABLE (required unless --input_query)."),
		query:             fs.String("input_query", "", "Standard SQL query whose result is the input, instead of --input; @since and @until are filled from --since and --until."),
		bqStreams:         fs.Int("bq_streams", 0, "Most BigQuery read streams, each read in parallel (0: let the service decide)."),
		bqRowFilter:       fs.String("bq_row_filter", "", "SQL predicate pushed down to the BigQuery read, e.g. \"event_date >= '2024-01-01'\"."),
		bqProject:         fs.String("bq_project", "", "Project billed for BigQuery reads and query jobs (default: the table's project; for --input_query, --project)."),
		bqEndpoint:        fs.String("bq_endpoint", "", "BigQuery REST endpoint for query jobs, e.g. a private endpoint or http://127.0.0.1:9050 (default: Google's)."),
		bqStorageEndpoint: fs.String("bq_storage_endpoint", "", "BigQuery Storage Read API endpoint, host:port; a loopback host is plain text without auth (default: Google's)."),
	}
}

// Path is --input.
func (in *Input) Path() string { return *in.input }

// BigQuery reports whether the input is BigQuery (--input=bq://... or
// --input_query).
func (in *Input) BigQuery() bool {
	return strings.HasPrefix(*in.input, "bq://") || *in.query != ""
}

// Spec checks that an input is named and returns its validated record spec
// (Records.Spec for files, Records.TypedSpec for BigQuery).
func (in *Input) Spec(r *Records) (interactions.Spec, error) {
	switch {
	case *in.input == "" && *in.query == "":
		return interactions.Spec{}, fmt.Errorf("--input (or --input_query) is required")
	case *in.input != "" && *in.query != "":
		return interactions.Spec{}, fmt.Errorf("set one of --input=%s and --input_query, not both", *in.input)
	case *in.bqStreams < 0:
		return interactions.Spec{}, fmt.Errorf("--bq_streams=%d: want 0 (the service decides) or more", *in.bqStreams)
	case in.BigQuery():
		return r.TypedSpec()
	}
	return r.Spec(*in.input)
}

// Read adds the read of the input to the pipeline, events parsed by spec.
// since and until (unix seconds, 0 = unset) are pushed down to BigQuery;
// the scoring rules keep the window whatever the source.
func (in *Input) Read(s beam.Scope, spec interactions.Spec, since, until int64) (interactions.Result, error) {
	if !in.BigQuery() {
		return interactions.Read(s, *in.input, spec)
	}
	opts := bigqueryio.Options{
		BillingProject:  *in.bqProject,
		Endpoint:        *in.bqEndpoint,
		StorageEndpoint: *in.bqStorageEndpoint,
		MaxStreams:      *in.bqStreams,
		RowFilter:       *in.bqRowFilter,
		Since:           since,
		Until:           until,
	}
	if *in.query == "" {
		return bigqueryio.Read(s, *in.input, spec, opts)
	}
	// The runner's --project (registered by Beam's GCP options) bills the
	// query when --bq_project is not set.
	if f := flag.Lookup("project"); opts.BillingProject == "" && f != nil {
		opts.BillingProject = f.Value.String()
	}
	return bigqueryio.ReadQuery(s, *in.query, spec, opts)
}
