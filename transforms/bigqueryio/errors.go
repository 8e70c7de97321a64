package bigqueryio

import (
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/bigquery"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// code is an error's gRPC code, with REST and job errors mapped to theirs.
func code(err error) codes.Code {
	var je *bigquery.Error // a job's error result
	if errors.As(err, &je) {
		return reasonCode(je.Reason)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		for _, item := range ge.Errors {
			if c := reasonCode(item.Reason); c != codes.Unknown {
				return c
			}
		}
		switch ge.Code {
		case http.StatusNotFound:
			return codes.NotFound
		case http.StatusForbidden:
			return codes.PermissionDenied
		}
		return codes.Unknown
	}
	return status.Code(err)
}

// reasonCode maps a BigQuery error reason to a gRPC code.
func reasonCode(reason string) codes.Code {
	switch reason {
	case "notFound":
		return codes.NotFound
	case "accessDenied":
		return codes.PermissionDenied
	}
	return codes.Unknown
}

// explainRead words a Storage Read API failure on a table (bq://P.D.T) for
// whoever runs the pipeline: what is wrong and what to fix.
func explainRead(err error, table, billing string) error {
	switch code(err) {
	case codes.NotFound:
		return fmt.Errorf("%s: not found (%v): check the project, dataset and table names, and that the table was not deleted or its read session expired (6 hours)", table, err)
	case codes.PermissionDenied:
		return fmt.Errorf("%s: permission denied (%v): grant the service account that runs the pipeline roles/bigquery.readSessionUser on project %s and roles/bigquery.dataViewer on the table (or its dataset)", table, err, billing)
	}
	return fmt.Errorf("%s: %w", table, err)
}

// explainQuery words a query job failure.
func explainQuery(err error, billing string) error {
	switch code(err) {
	case codes.NotFound:
		return fmt.Errorf("--input_query: a table the query reads was not found (%v): check its names in the query", err)
	case codes.PermissionDenied:
		return fmt.Errorf("--input_query: permission denied (%v): grant the service account roles/bigquery.jobUser on project %s (to run the query) and roles/bigquery.dataViewer on the tables it reads", err, billing)
	}
	return fmt.Errorf("--input_query: %w", err)
}
