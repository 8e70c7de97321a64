// Package bigquerytest serves tables through in-process fakes of BigQuery:
// the Storage Read gRPC API (google.cloud.bigquery.storage.v1.BigQueryRead)
// on a loopback listener, and the REST calls a query job makes (jobs.insert,
// jobs.getQueryResults, jobs.get, tables.get) on an httptest server. Both are
// used through the real client libraries, so tests exercise the same code
// paths as production, including faults (broken streams, missing tables,
// denied permissions).
package bigquerytest

import (
	"bytes"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// Column is a table column: a name and a BigQuery type (STRING, INT64,
// FLOAT64, NUMERIC, TIMESTAMP, BOOL or DATE).
type Column struct {
	Name string // column name
	Type string // BigQuery type
}

// Table is a table's schema and rows. Each row holds one value per column:
// string (STRING, and NUMERIC as decimal text), int64, float64, time.Time
// (TIMESTAMP, DATE), bool, or nil for NULL.
type Table struct {
	Columns []Column // the schema, in table order
	Rows    [][]any  // the rows, one value per column
}

// arrowType is how the Storage Read API encodes a BigQuery type in Arrow.
func arrowType(bqType string) (arrow.DataType, error) {
	switch strings.ToUpper(bqType) {
	case "STRING":
		return arrow.BinaryTypes.String, nil
	case "INT64", "INTEGER":
		return arrow.PrimitiveTypes.Int64, nil
	case "FLOAT64", "FLOAT":
		return arrow.PrimitiveTypes.Float64, nil
	case "NUMERIC":
		return &arrow.Decimal128Type{Precision: 38, Scale: 9}, nil
	case "TIMESTAMP":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case "BOOL", "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean, nil
	case "DATE":
		return arrow.FixedWidthTypes.Date32, nil
	}
	return nil, fmt.Errorf("bigquerytest: unsupported column type %q", bqType)
}

// schemaOf is the Arrow schema of the given columns.
func schemaOf(cols []Column) (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		t, err := arrowType(c.Type)
		if err != nil {
			return nil, err
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// record builds an Arrow record of rows[lo:hi], reading column idx[j] of
// each row into field j of the schema.
func record(schema *arrow.Schema, rows [][]any, idx []int) (arrow.Record, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, row := range rows {
		for j, ci := range idx {
			if err := appendValue(b.Field(j), row[ci]); err != nil {
				return nil, fmt.Errorf("column %s: %v", schema.Field(j).Name, err)
			}
		}
	}
	return b.NewRecord(), nil
}

func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	ok := true
	switch b := b.(type) {
	case *array.StringBuilder:
		var s string
		s, ok = v.(string)
		b.Append(s)
	case *array.Int64Builder:
		var n int64
		n, ok = v.(int64)
		b.Append(n)
	case *array.Float64Builder:
		var f float64
		f, ok = v.(float64)
		b.Append(f)
	case *array.Decimal128Builder:
		s, isStr := v.(string)
		if !isStr {
			return fmt.Errorf("NUMERIC value %v (%T) is not decimal text", v, v)
		}
		r, isNum := new(big.Rat).SetString(s)
		if !isNum {
			return fmt.Errorf("NUMERIC value %q is not a number", s)
		}
		r.Mul(r, new(big.Rat).SetInt64(1e9))
		if !r.IsInt() {
			return fmt.Errorf("NUMERIC value %q has more than 9 decimals", s)
		}
		b.Append(decimal128.FromBigInt(r.Num()))
	case *array.TimestampBuilder:
		var t time.Time
		t, ok = v.(time.Time)
		b.Append(arrow.Timestamp(t.UnixMicro()))
	case *array.BooleanBuilder:
		var x bool
		x, ok = v.(bool)
		b.Append(x)
	case *array.Date32Builder:
		var t time.Time
		t, ok = v.(time.Time)
		b.Append(arrow.Date32FromTime(t))
	default:
		return fmt.Errorf("no builder for %T", b)
	}
	if !ok {
		return fmt.Errorf("value %v (%T) does not fit the column type", v, v)
	}
	return nil
}

// serializeSchema is the schema message alone, as ReadSession.arrow_schema
// carries it: an IPC stream's first message.
func serializeSchema(schema *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		return nil, err
	}
	// Close wrote the schema then the 8-byte end-of-stream marker.
	return buf.Bytes()[:buf.Len()-8], nil
}

// serializeBatch is one record batch message without the schema, as
// ReadRowsResponse.arrow_record_batch carries it.
func serializeBatch(rec arrow.Record, schemaLen int) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	return buf.Bytes()[schemaLen:], nil
}
