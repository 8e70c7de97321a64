package interactions

import (
	"bytes"
	"encoding/csv"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recsys/itemsim/model"
)

var seedSpec = Spec{Format: FormatCSV, Header: true, UserField: "user", ItemField: "productSku",
	ActionField: "type", Weights: model.Weights{"1": 0.5, "2": 2, "3": 6}}

func mustParser(t testing.TB, s Spec, header []string) *Parser {
	t.Helper()
	p, err := NewParser(s, header)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseDelimited(t *testing.T) {
	timed := seedSpec
	timed.TimeField = "time"
	score := Spec{Format: FormatTSV, UserField: "0", ItemField: "1", ScoreField: "2", TimeField: "3"}
	header := []string{"user", "productSku", "type", "time"}
	tests := []struct {
		name   string
		spec   Spec
		header []string
		line   string
		want   Event
		reason string
	}{
		{"seed row", seedSpec, header, "u1,p2,3,0", Event{User: "u1", Item: "p2", Weight: 6}, ""},
		{"CRLF", seedSpec, header, "u1,p2,1,0\r", Event{User: "u1", Item: "p2", Weight: 0.5}, ""},
		{"quoted item with comma", seedSpec, header, `u1,"p,2",2,0`, Event{User: "u1", Item: "p,2", Weight: 2}, ""},
		{"spaces trimmed", seedSpec, header, " u1 , p2 , 2 ,0", Event{User: "u1", Item: "p2", Weight: 2}, ""},
		{"time", timed, header, "u1,p2,2,2019-10-01 00:00:05 UTC", Event{User: "u1", Item: "p2", Weight: 2, Time: 1569888005, HasTime: true}, ""},
		{"truncated line", seedSpec, header, "u1,p2", Event{}, ReasonFieldCount},
		{"extra field", seedSpec, header, "u1,p2,1,0,9", Event{}, ReasonFieldCount},
		{"empty user", seedSpec, header, ",p2,1,0", Event{}, ReasonEmptyUser},
		{"empty item", seedSpec, header, "u1, ,1,0", Event{}, ReasonEmptyItem},
		{"unknown action", seedSpec, header, "u1,p2,7,0", Event{}, ReasonUnknownAction},
		{"bare quotes", seedSpec, header, `u1,p"2",1,0`, Event{}, ReasonMalformed},
		// One stray quote cannot be told from a piece of a broken record.
		{"one stray quote", seedSpec, header, `u1,p"2,1,0`, Event{}, ReasonQuotedNewline},
		// A quoted field holding a line break reaches the parser as pieces
		// with an odd number of quotes: both get their own reason.
		{"record cut by a quoted newline, first piece", seedSpec, header, `u1,"p`, Event{}, ReasonQuotedNewline},
		{"record cut by a quoted newline, last piece", seedSpec, header, `2",1,0`, Event{}, ReasonQuotedNewline},
		{"quote after a closed field", seedSpec, header, `u1,"p2"x,1,0`, Event{}, ReasonMalformed},
		{"item id at the limit", seedSpec, header, "u1," + strings.Repeat("i", MaxIDBytes) + ",1,0", Event{User: "u1", Item: strings.Repeat("i", MaxIDBytes), Weight: 0.5}, ""},
		{"item id too long", seedSpec, header, "u1," + strings.Repeat("i", MaxIDBytes+1) + ",1,0", Event{}, ReasonIDTooLong},
		{"user id too long", seedSpec, header, strings.Repeat("u", 2000) + ",p2,1,0", Event{}, ReasonIDTooLong},
		{"reserved item id", seedSpec, header, "u1,__p__,1,0", Event{}, ReasonIDReserved},
		{"underscores that are not reserved", seedSpec, header, "u1,___,1,0", Event{User: "u1", Item: "___", Weight: 0.5}, ""},
		{"score at the limit", score, nil, "1\t2\t1e150\t0", Event{User: "1", Item: "2", Weight: 1e150, HasTime: true}, ""},
		{"BigQuery NUMERIC-sized score", score, nil, "1\t2\t12000000000000000000\t0", Event{User: "1", Item: "2", Weight: 1.2e19, HasTime: true}, ""},
		{"score out of range", score, nil, "1\t2\t1.0000000000000001e150\t0", Event{}, ReasonScoreOutOfRange},
		{"huge score", score, nil, "1\t2\t1e300\t0", Event{}, ReasonScoreOutOfRange},
		{"invalid utf8", seedSpec, header, "u\xff,p2,1,0", Event{}, ReasonInvalidUTF8},
		{"bad time", timed, header, "u1,p2,1,yesterday", Event{}, ReasonBadTime},
		{"tsv score", score, nil, "196\t242\t3\t881250949", Event{User: "196", Item: "242", Weight: 3, Time: 881250949, HasTime: true}, ""},
		{"tsv missing column", score, nil, "196\t242\t3", Event{}, ReasonFieldCount},
		{"non-numeric score", score, nil, "1\t2\tfive\t0", Event{}, ReasonBadScore},
		{"NaN score", score, nil, "1\t2\tNaN\t0", Event{}, ReasonNonFinite},
		{"infinite score", score, nil, "1\t2\t1e400\t0", Event{}, ReasonNonFinite},
		{"negative score", score, nil, "1\t2\t-1\t0", Event{}, ReasonNegativeScore},
		{"tsv keeps quotes", score, nil, "\"1\t2\t1\t0", Event{User: `"1`, Item: "2", Weight: 1, HasTime: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := mustParser(t, tc.spec, tc.header).Parse(tc.line)
			if reason != tc.reason || got != tc.want {
				t.Errorf("Parse(%q) = %+v, %q; want %+v, %q", tc.line, got, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestParseJSONL(t *testing.T) {
	spec := Spec{Format: FormatJSONL, UserField: "user", ItemField: "item", ActionField: "event", TimeField: "ts",
		Weights: model.Weights{"view": 0.5, "cart": 2, "1": 7}}
	tests := []struct {
		line   string
		want   Event
		reason string
	}{
		{`{"user":"a","item":"b","event":"cart","ts":10}`, Event{User: "a", Item: "b", Weight: 2, Time: 10, HasTime: true}, ""},
		{`{"user":12,"item":3.5,"event":1,"ts":"1970-01-01T00:00:10Z"}`, Event{User: "12", Item: "3.5", Weight: 7, Time: 10, HasTime: true}, ""},
		{`{"user":"a","item":"b","event":"view"}`, Event{}, ReasonMissingField},
		{`{"user":null,"item":"b","event":"view","ts":1}`, Event{}, ReasonMissingField},
		{`{"user":{"id":1},"item":"b","event":"view","ts":1}`, Event{}, ReasonMissingField},
		{`{"user":"a","item":"b","event":"buy","ts":1}`, Event{}, ReasonUnknownAction},
		{`{"user":"a","item":"b",`, Event{}, ReasonMalformed},
		{`[1,2]`, Event{}, ReasonMalformed},
	}
	p := mustParser(t, spec, nil)
	for _, tc := range tests {
		got, reason := p.Parse(tc.line)
		if reason != tc.reason || got != tc.want {
			t.Errorf("Parse(%s) = %+v, %q; want %+v, %q", tc.line, got, reason, tc.want, tc.reason)
		}
	}
}

func TestNewParserErrors(t *testing.T) {
	header := []string{"user", "productSku", "type"}
	tests := []struct {
		name string
		spec func(Spec) Spec
		hdr  []string
		want string
	}{
		{"unknown column", func(s Spec) Spec { s.ItemField = "sku"; return s }, header, `--item_field="sku" is neither a column`},
		{"index past header", func(s Spec) Spec { s.UserField = "7"; return s }, header, "past the header"},
		{"name without header", func(s Spec) Spec { s.Header = false; return s }, nil, "must be a 0-based column index"},
		{"both action and score", func(s Spec) Spec { s.ScoreField = "x"; return s }, header, "exactly one of"},
		{"no weights", func(s Spec) Spec { s.Weights = nil; return s }, header, "needs --weights"},
		{"bad format", func(s Spec) Spec { s.Format = "xml"; return s }, header, "want csv, tsv or jsonl"},
	}
	for _, tc := range tests {
		_, err := NewParser(tc.spec(seedSpec), tc.hdr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"881250949", 881250949},
		{"881250949.9", 881250949},
		{"2019-10-01 00:00:00 UTC", 1569888000},
		{"2019-10-01T00:00:00Z", 1569888000},
		{"2019-10-01T02:00:00+02:00", 1569888000},
		{"2019-10-01 00:00:00.5", 1569888000},
		{"2019-10-01", 1569888000},
	}
	for _, tc := range tests {
		if got, err := ParseTime(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "soon", "1e300", "NaN", "2019-13-01"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

func TestFormatFromPath(t *testing.T) {
	for in, want := range map[string]string{"a/b.csv": FormatCSV, "x.TSV": FormatTSV, "gs://b/p-*.jsonl": FormatJSONL, "f.csv.gz": FormatCSV} {
		if got, err := FormatFromPath(in); err != nil || got != want {
			t.Errorf("FormatFromPath(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := FormatFromPath("u.data"); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("u.data: err = %v", err)
	}
}

// csvOracle is encoding/csv's reading of a single-line record.
func csvOracle(line string) ([]string, bool) {
	r := csv.NewReader(strings.NewReader(line))
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	return rec, err == nil
}

func TestSplitCSVMatchesEncodingCSV(t *testing.T) {
	for _, line := range []string{`a,b,c`, `"a,b",c`, `"a""b",c`, `a,"b"`, `"",""`, `a"b,c`, `"a"b,c`, `"a`, `,`, `"a",`, ` "a",b`} {
		got, ok := SplitCSV(line, nil)
		want, wantOK := csvOracle(line)
		if ok != wantOK || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("SplitCSV(%q) = %q, %v; encoding/csv says %q, %v", line, got, ok, want, wantOK)
		}
	}
}

// FuzzSplitCSV checks the fast splitter against encoding/csv on one-line
// records.
func FuzzSplitCSV(f *testing.F) {
	for _, s := range []string{`a,b,c`, `"a,b",c`, `"a""b",c`, `a"b`, `"x"y`, `,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if line == "" || strings.ContainsAny(line, "\r\n") || !utf8.ValidString(line) {
			t.Skip() // encoding/csv skips empty lines and rewrites line breaks
		}
		got, ok := SplitCSV(line, nil)
		want, wantOK := csvOracle(line)
		if ok != wantOK || (ok && !reflect.DeepEqual(got, want)) {
			t.Fatalf("SplitCSV(%q) = %q, %v; encoding/csv says %q, %v", line, got, ok, want, wantOK)
		}
	})
}

// FuzzParse feeds arbitrary lines to every format's parser: it must never
// panic, and an accepted line must give a non-empty user and item and a
// finite, non-negative weight.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"u1,p2,3,0", `{"user":"a","item":"b","type":2}`, "1\t2\t3\t4", `"a",b`, "\xff"} {
		f.Add(s)
	}
	specs := []Spec{seedSpec, {Format: FormatTSV, UserField: "0", ItemField: "1", ScoreField: "2", TimeField: "3"},
		{Format: FormatJSONL, UserField: "user", ItemField: "item", ActionField: "type", Weights: model.Weights{"2": 2}}}
	parsers := make([]*Parser, len(specs))
	for i, s := range specs {
		var header []string
		if s.Header {
			header = []string{"user", "productSku", "type", "time"}
		}
		parsers[i] = mustParser(f, s, header)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range parsers {
			e, reason := p.Parse(line)
			if reason == "" && (e.User == "" || e.Item == "" || !(e.Weight >= 0) || e.Weight > model.MaxScore ||
				len(e.User) > MaxIDBytes || len(e.Item) > MaxIDBytes) {
				t.Fatalf("accepted %q as %+v", line, e)
			}
		}
	})
}

func TestSpecComplete(t *testing.T) {
	s, err := Spec{UserField: "user", ItemField: "productSku"}.Complete("in.csv", "1:0.5,3:6")
	if err != nil || s.ActionField != "type" || s.Format != FormatCSV || !reflect.DeepEqual(s.Weights, model.Weights{"1": 0.5, "3": 6}) {
		t.Errorf("Complete = %+v, %v", s, err)
	}
	s, err = Spec{Format: FormatTSV, UserField: "0", ItemField: "1", ScoreField: "2"}.Complete("u.data", "bad")
	if err != nil || s.ActionField != "" || s.Weights != nil {
		t.Errorf("a score spec must ignore the weights: %+v, %v", s, err)
	}
	if _, err := (Spec{UserField: "u", ItemField: "i"}).Complete("u.data", "1:1"); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("no format: err = %v", err)
	}
}

func TestBatchCoderRoundTrip(t *testing.T) {
	for _, b := range []Batch{
		{Events: []Event{}},
		{Events: []Event{
			{User: "u1", Item: "p1", Weight: 0.5},
			{User: "", Item: "ünï\x00", Weight: 6, Time: -1, HasTime: true},
			{User: "u2", Item: "p2", Weight: math.MaxFloat64, Time: 1 << 40, HasTime: true},
		}},
	} {
		got, err := decodeBatch(encodeBatch(b))
		if err != nil || !reflect.DeepEqual(got, b) {
			t.Errorf("round trip of %+v: %+v, %v", b, got, err)
		}
	}
}

// FuzzDecodeBatch: corrupt bytes give an error, never a panic; what decodes
// survives a round trip (compared as encodings: NaN weights defeat value
// comparison, and varints may arrive in a longer form than they leave).
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(Batch{Events: []Event{{User: "u", Item: "i", Weight: 1, Time: 5, HasTime: true}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			return
		}
		enc := encodeBatch(b)
		again, err := decodeBatch(enc)
		if err != nil || !bytes.Equal(encodeBatch(again), enc) {
			t.Fatalf("%+v does not survive a round trip: %+v, %v", b, again, err)
		}
	})
}
