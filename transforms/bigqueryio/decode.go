package bigqueryio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"
)

// kind is how a column's Arrow type is read.
type kind int

const (
	kindString    kind = iota // STRING: utf8
	kindInt64                 // INT64: int64
	kindFloat64               // FLOAT64: float64
	kindNumeric               // NUMERIC: decimal128(38, 9)
	kindTimestamp             // TIMESTAMP: timestamp[us, UTC]
)

// role is what a column means to the parser, with the kinds it may have.
type role struct {
	flag  string // the flag that names the column, for messages
	kinds []kind
	want  string // the BigQuery types allowed, for messages
}

var (
	roleUser   = role{"user_field", []kind{kindString, kindInt64}, "STRING or INT64"}
	roleItem   = role{"item_field", []kind{kindString, kindInt64}, "STRING or INT64"}
	roleAction = role{"action_field", []kind{kindString, kindInt64}, "STRING or INT64"}
	roleScore  = role{"score_field", []kind{kindFloat64, kindNumeric, kindInt64}, "FLOAT64, NUMERIC or INT64"}
	roleTime   = role{"time_field", []kind{kindTimestamp, kindInt64}, "TIMESTAMP or INT64 (unix seconds)"}
)

// column is one column the parser reads, resolved against a session schema.
type column struct {
	name  string
	index int // in the session's Arrow schema
	kind  kind
}

// fields lists the columns a spec reads, in the parser's order (user,
// item, action or score, and time when set), with their roles.
func fields(spec interactions.Spec) ([]string, []role) {
	names := []string{spec.UserField, spec.ItemField}
	roles := []role{roleUser, roleItem}
	if spec.ActionField != "" {
		names, roles = append(names, spec.ActionField), append(roles, roleAction)
	} else {
		names, roles = append(names, spec.ScoreField), append(roles, roleScore)
	}
	if spec.TimeField != "" {
		names, roles = append(names, spec.TimeField), append(roles, roleTime)
	}
	return names, roles
}

// selectedFields are the distinct columns a spec reads, for the session's
// ReadOptions.SelectedFields.
func selectedFields(spec interactions.Spec) []string {
	names, _ := fields(spec)
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// classify maps an Arrow type to the kind it is read as and to the BigQuery
// type it encodes, for messages. ok is false for types no role takes.
func classify(t arrow.DataType) (k kind, bqType string, ok bool) {
	switch t := t.(type) {
	case *arrow.StringType:
		return kindString, "STRING", true
	case *arrow.Int64Type:
		return kindInt64, "INT64", true
	case *arrow.Float64Type:
		return kindFloat64, "FLOAT64", true
	case *arrow.Decimal128Type:
		return kindNumeric, "NUMERIC", true
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return 0, "DATETIME", false // civil time: which instant is ambiguous
		}
		return kindTimestamp, "TIMESTAMP", true
	case *arrow.BooleanType:
		return 0, "BOOL", false
	case *arrow.Date32Type:
		return 0, "DATE", false
	case *arrow.Decimal256Type:
		return 0, "BIGNUMERIC", false
	case *arrow.BinaryType:
		return 0, "BYTES", false
	case *arrow.ListType:
		return 0, "REPEATED " + t.Elem().String(), false
	case *arrow.StructType:
		return 0, "STRUCT", false
	}
	return 0, t.String(), false
}

// decoder turns a session's serialized Arrow record batches into events.
// It is not safe for concurrent use.
type decoder struct {
	schema []byte // the session's serialized Arrow schema message
	parser *interactions.Parser
	cols   []column
	source string // dead letters' File
}

// newDecoder resolves the spec's columns against a session's Arrow schema
// and fails, naming the column, when one is missing or of a type its role
// cannot take.
func newDecoder(schema []byte, spec interactions.Spec, source string) (*decoder, error) {
	parser, err := interactions.NewFieldParser(spec)
	if err != nil {
		return nil, err
	}
	r, err := ipc.NewReader(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the session's Arrow schema: %v", source, err)
	}
	defer r.Release()
	s := r.Schema()
	d := &decoder{schema: schema, parser: parser, source: source}
	names, roles := fields(spec)
	for i, name := range names {
		idx := s.FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s has no column %q (--%s)", source, name, roles[i].flag)
		}
		k, bqType, ok := classify(s.Field(idx[0]).Type)
		allowed := false
		for _, want := range roles[i].kinds {
			allowed = allowed || (ok && want == k)
		}
		if !allowed {
			return nil, fmt.Errorf("%s: column %q (--%s) is %s, want %s; CAST it in --input_query", source, name, roles[i].flag, bqType, roles[i].want)
		}
		d.cols = append(d.cols, column{name: name, index: idx[0], kind: k})
	}
	return d, nil
}

// decode reads one serialized record batch and calls good for each usable
// row and bad for each other, with the reason and the row as JSON. It
// returns the rows read.
func (d *decoder) decode(batch []byte, good func(interactions.Event), bad func(reason, row string)) (int64, error) {
	r, err := ipc.NewReader(io.MultiReader(bytes.NewReader(d.schema), bytes.NewReader(batch)))
	if err != nil {
		return 0, fmt.Errorf("%s: decoding an Arrow record batch: %v", d.source, err)
	}
	defer r.Release()
	var rows int64
	var cells [4]cellFunc
	var text [4]string
	for r.Next() {
		rec := r.Record()
		for j, c := range d.cols {
			cells[j] = cellReader(c.kind, rec.Column(c.index))
		}
		n := int(rec.NumRows())
		for i := 0; i < n; i++ {
			for j := range d.cols {
				text[j] = cells[j](i) // NULL is "", which Event rejects
			}
			e, reason := d.parser.Event(text[0], text[1], text[2], text[3])
			if reason != "" {
				bad(reason, d.renderRow(rec, i))
				continue
			}
			good(e)
		}
		rows += int64(n)
	}
	if err := r.Err(); err != nil {
		return rows, fmt.Errorf("%s: decoding an Arrow record batch: %v", d.source, err)
	}
	return rows, nil
}

// cellFunc returns row i of a column as the text a file would hold, or ""
// for NULL.
type cellFunc func(i int) string

func cellReader(k kind, a arrow.Array) cellFunc {
	switch k {
	case kindString:
		a := a.(*array.String)
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return a.Value(i)
		}
	case kindInt64:
		a := a.(*array.Int64)
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return strconv.FormatInt(a.Value(i), 10)
		}
	case kindFloat64:
		a := a.(*array.Float64)
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
		}
	case kindNumeric:
		a := a.(*array.Decimal128)
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return decimalText(a.Value(i).BigInt(), scale)
		}
	default: // kindTimestamp
		a := a.(*array.Timestamp)
		perSec := unitsPerSecond(a.DataType().(*arrow.TimestampType).Unit)
		return func(i int) string {
			if a.IsNull(i) {
				return ""
			}
			return strconv.FormatInt(model.FloorDiv(int64(a.Value(i)), perSec), 10)
		}
	}
}

// decimalText prints an unscaled decimal exactly, without trailing zeros,
// as BigQuery exports NUMERIC ("1.5", not "1.500000000"): the parser then
// rounds it to float64 once, as it would from a file.
func decimalText(unscaled *big.Int, scale int32) string {
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		if pad := int(scale) + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		cut := len(digits) - int(scale)
		frac := strings.TrimRight(digits[cut:], "0")
		digits = digits[:cut]
		if frac != "" {
			digits += "." + frac
		}
	} else if scale < 0 {
		digits += strings.Repeat("0", int(-scale))
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func unitsPerSecond(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

// renderRow prints row i's columns as a JSON object, for dead letters:
// strings and timestamps (RFC 3339) quoted, numbers bare, NULL as null.
func (d *decoder) renderRow(rec arrow.Record, i int) string {
	var b strings.Builder
	b.WriteByte('{')
	seen := map[string]bool{}
	for _, c := range d.cols {
		if seen[c.name] {
			continue
		}
		seen[c.name] = true
		if len(seen) > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(c.name))
		b.WriteByte(':')
		b.WriteString(jsonValue(c.kind, rec.Column(c.index), i))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonValue(k kind, a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	switch k {
	case kindString:
		return jsonString(a.(*array.String).Value(i))
	case kindFloat64:
		f := a.(*array.Float64).Value(i)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonString(strconv.FormatFloat(f, 'g', -1, 64)) // JSON has no NaN
		}
	case kindTimestamp:
		a := a.(*array.Timestamp)
		unit := a.DataType().(*arrow.TimestampType).Unit
		return jsonString(a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano))
	}
	return cellReader(k, a)(i)
}

// jsonString quotes s as JSON.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
