package bigquerytest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
)

// TestTableMetadata reads a table's metadata (tables.get) through the real
// client, and the faults a table can be given.
func TestTableMetadata(t *testing.T) {
	srv := New(t)
	srv.AddTable("p.d.t", Table{Columns: []Column{{"user", "STRING"}, {"n", "INT64"}}, Rows: [][]any{{"a", int64(1)}}})
	srv.AddTable("p.d.secret", Table{Columns: []Column{{"x", "STRING"}}})
	srv.FailTable("p.d.secret", codes.PermissionDenied)
	ctx := context.Background()
	c, err := bigquery.NewClient(ctx, "p", option.WithEndpoint(srv.URL+"/bigquery/v2/"), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	md, err := c.Dataset("d").Table("t").Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.NumRows != 1 || len(md.Schema) != 2 || md.Schema[0].Name != "user" || md.Schema[1].Type != bigquery.IntegerFieldType {
		t.Errorf("metadata: %d rows, schema %+v", md.NumRows, md.Schema)
	}
	for table, want := range map[string]int{"secret": http.StatusForbidden, "missing": http.StatusNotFound} {
		_, err := c.Dataset("d").Table(table).Metadata(ctx)
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != want {
			t.Errorf("tables.get on %s: %v, want HTTP %d", table, err, want)
		}
	}
}

func TestFilter(t *testing.T) {
	cols := []Column{{"s", "STRING"}, {"n", "INT64"}, {"f", "FLOAT64"}, {"d", "NUMERIC"}}
	row := []any{"b", int64(5), 2.5, "1.25"}
	nulls := []any{nil, nil, nil, nil}
	for _, tc := range []struct {
		filter    string
		keep      bool
		keepNulls bool
		err       bool
	}{
		{filter: "", keep: true, keepNulls: true},
		{filter: "s = 'b'", keep: true},
		{filter: `s != "b"`},
		{filter: "n >= 5 AND f < 3", keep: true},
		{filter: "n > 5"},
		{filter: "d <> 1.25"},
		{filter: "d <= 1.25 and s < 'c'", keep: true},
		{filter: "missing = 1", err: true},
		{filter: "n IN (1, 2)", err: true},
	} {
		f, err := parseFilter(tc.filter, cols)
		if (err != nil) != tc.err {
			t.Errorf("parseFilter(%q): error %v, want error %v", tc.filter, err, tc.err)
			continue
		}
		if err == nil && (f.keep(row) != tc.keep || f.keep(nulls) != tc.keepNulls) {
			t.Errorf("%q keeps %v (NULLs %v), want %v (%v)", tc.filter, f.keep(row), f.keep(nulls), tc.keep, tc.keepNulls)
		}
	}
}
