package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/transforms/bigqueryio"
	"github.com/recsys/itemsim/transforms/interactions"
)

// BigQuery input flags; see docs/bigquery.md.
var (
	inputQuery        = flag.String("input_query", "", "Standard SQL query whose result is the input, instead of --input; @since and @until are filled from --since and --until.")
	bqStreams         = flag.Int("bq_streams", 0, "Most BigQuery read streams, each read in parallel (0: let the service decide).")
	bqRowFilter       = flag.String("bq_row_filter", "", "SQL predicate pushed down to the BigQuery read, e.g. \"event_date >= '2024-01-01'\".")
	bqProject         = flag.String("bq_project", "", "Project billed for BigQuery reads and query jobs (default: the table's project; for --input_query, --project).")
	bqEndpoint        = flag.String("bq_endpoint", "", "BigQuery REST endpoint for query jobs, e.g. a private endpoint or http://127.0.0.1:9050 (default: Google's).")
	bqStorageEndpoint = flag.String("bq_storage_endpoint", "", "BigQuery Storage Read API endpoint, host:port; a loopback host is plain text without auth (default: Google's).")
)

// bigQueryInput reports whether the input is BigQuery (--input=bq://... or --input_query).
func bigQueryInput(input string) bool {
	return strings.HasPrefix(input, "bq://") || *inputQuery != ""
}

// readBigQuery adds the BigQuery read to the pipeline. since/until are unix seconds, 0 = unset.
func readBigQuery(s beam.Scope, input string, spec interactions.Spec, since, until int64) (interactions.Result, error) {
	if *bqStreams < 0 {
		return interactions.Result{}, fmt.Errorf("--bq_streams=%d: want 0 (the service decides) or more", *bqStreams)
	}
	opts := bigqueryio.Options{
		BillingProject:  *bqProject,
		Endpoint:        *bqEndpoint,
		StorageEndpoint: *bqStorageEndpoint,
		MaxStreams:      *bqStreams,
		RowFilter:       *bqRowFilter,
		Since:           since,
		Until:           until,
	}
	if *inputQuery == "" {
		return bigqueryio.Read(s, input, spec, opts)
	}
	if input != "" {
		return interactions.Result{}, fmt.Errorf("set one of --input=%s and --input_query, not both", input)
	}
	// The runner's --project (registered by Beam's GCP options) bills the
	// query when --bq_project is not set.
	if f := flag.Lookup("project"); opts.BillingProject == "" && f != nil {
		opts.BillingProject = f.Value.String()
	}
	return bigqueryio.ReadQuery(s, *inputQuery, spec, opts)
}
