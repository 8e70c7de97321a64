package interactions

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

// Parser turns records into Events under a Spec. It is built once per file
// layout (NewParser) and is safe for concurrent use.
type Parser struct {
	spec Spec
	sep  byte
	// Column indices for delimited formats; -1 when the field is not read.
	user, item, value, when int
	// width is the header's field count (0 without a header): rows of another
	// width are malformed, since a shifted column would silently mis-assign ids.
	width int
	// need is the smallest field count that holds every read column.
	need int
}

// NewParser resolves the spec's fields against a header (nil when the input
// has none) and returns a Parser, or an error that says which field is off.
func NewParser(spec Spec, header []string) (*Parser, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := &Parser{spec: spec, user: -1, item: -1, value: -1, when: -1}
	switch spec.Format {
	case FormatJSONL:
		return p, nil
	case FormatCSV:
		p.sep = ','
	case FormatTSV:
		p.sep = '\t'
	}
	if spec.Header {
		p.width = len(header)
	}
	resolve := func(flagName, field string) (int, error) {
		for i, h := range header {
			if strings.TrimSpace(h) == field {
				return i, nil
			}
		}
		i, err := strconv.Atoi(field)
		if err != nil || i < 0 {
			if spec.Header {
				return 0, fmt.Errorf("--%s=%q is neither a column of the header %q nor a 0-based index", flagName, field, header)
			}
			return 0, fmt.Errorf("--%s=%q must be a 0-based column index when the input has no header (or pass --header)", flagName, field)
		}
		if spec.Header && i >= len(header) {
			return 0, fmt.Errorf("--%s=%d is past the header's %d columns %q", flagName, i, len(header), header)
		}
		return i, nil
	}
	var err error
	if p.user, err = resolve("user_field", spec.UserField); err != nil {
		return nil, err
	}
	if p.item, err = resolve("item_field", spec.ItemField); err != nil {
		return nil, err
	}
	if spec.ActionField != "" {
		p.value, err = resolve("action_field", spec.ActionField)
	} else {
		p.value, err = resolve("score_field", spec.ScoreField)
	}
	if err != nil {
		return nil, err
	}
	if spec.TimeField != "" {
		if p.when, err = resolve("time_field", spec.TimeField); err != nil {
			return nil, err
		}
	}
	p.need = max(p.user, p.item, p.value, p.when) + 1
	return p, nil
}

// NewFieldParser returns a Parser for typed sources (a table's columns, not
// text lines): only Parser.Event is meaningful on it, and the spec's Format
// and Header are ignored.
func NewFieldParser(spec Spec) (*Parser, error) {
	spec.Format, spec.Header = FormatJSONL, false
	return NewParser(spec, nil)
}

// SplitHeader splits a header line with the spec's delimiter. It returns nil
// for JSONL, whose records name their fields.
func (s Spec) SplitHeader(line string) ([]string, error) {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "\ufeff"), "\r")
	switch s.Format {
	case FormatCSV:
		f, ok := SplitCSV(line, nil)
		if !ok {
			return nil, fmt.Errorf("header %q is not valid CSV", line)
		}
		return f, nil
	case FormatTSV:
		return strings.Split(line, "\t"), nil
	}
	return nil, nil
}

// Parse turns one line into an Event, or returns the reason it cannot. A
// trailing carriage return (CRLF files) is not part of the record.
func (p *Parser) Parse(line string) (Event, string) {
	line = strings.TrimSuffix(line, "\r")
	if !utf8.ValidString(line) {
		return Event{}, ReasonInvalidUTF8
	}
	if p.spec.Format == FormatJSONL {
		return p.parseJSON(line)
	}
	var buf [16]string
	var fields []string
	if p.sep == ',' {
		var ok bool
		if fields, ok = SplitCSV(line, buf[:0]); !ok {
			if strings.Count(line, `"`)%2 == 1 {
				return Event{}, ReasonQuotedNewline
			}
			return Event{}, ReasonMalformed
		}
	} else {
		fields = splitPlain(line, p.sep, buf[:0])
	}
	if (p.width > 0 && len(fields) != p.width) || len(fields) < p.need {
		return Event{}, ReasonFieldCount
	}
	when := ""
	if p.when >= 0 {
		when = fields[p.when]
	}
	return p.Event(fields[p.user], fields[p.item], fields[p.value], when)
}

func (p *Parser) parseJSON(line string) (Event, string) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return Event{}, ReasonMalformed
	}
	get := func(key string) (string, bool) {
		raw, ok := rec[key]
		if !ok || string(raw) == "null" {
			return "", false
		}
		if raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}
		if raw[0] == '{' || raw[0] == '[' {
			return "", false
		}
		return string(raw), true // a number or a boolean, as written
	}
	value := p.spec.ActionField
	if value == "" {
		value = p.spec.ScoreField
	}
	u, okU := get(p.spec.UserField)
	i, okI := get(p.spec.ItemField)
	v, okV := get(value)
	when, okT := "", true
	if p.spec.TimeField != "" {
		when, okT = get(p.spec.TimeField)
	}
	if !okU || !okI || !okV || !okT {
		return Event{}, ReasonMissingField
	}
	return p.Event(u, i, v, when)
}

// Event validates one record's field values, as text, and builds its Event:
// value is the action (mapped through the weights) or the score, when the
// time (ignored when the spec reads none). Every source calls it, so that a
// row means the same from a file or from a table.
func (p *Parser) Event(user, item, value, when string) (Event, string) {
	e := Event{User: strings.TrimSpace(user), Item: strings.TrimSpace(item)}
	if e.User == "" {
		return Event{}, ReasonEmptyUser
	}
	if e.Item == "" {
		return Event{}, ReasonEmptyItem
	}
	if len(e.User) > MaxIDBytes || len(e.Item) > MaxIDBytes {
		return Event{}, ReasonIDTooLong
	}
	if simstore.ReservedKeyName(e.Item) {
		return Event{}, ReasonIDReserved
	}
	value = strings.TrimSpace(value)
	if p.spec.ActionField != "" {
		w, ok := p.spec.Weights[value]
		if !ok {
			return Event{}, ReasonUnknownAction
		}
		e.Weight = w
	} else {
		f, err := strconv.ParseFloat(value, 64)
		switch {
		case err != nil && !isRangeErr(err):
			return Event{}, ReasonBadScore
		case math.IsNaN(f) || math.IsInf(f, 0):
			return Event{}, ReasonNonFinite
		case f < 0:
			return Event{}, ReasonNegativeScore
		case f > model.MaxScore:
			return Event{}, ReasonScoreOutOfRange
		}
		e.Weight = f
	}
	if p.spec.TimeField != "" {
		t, err := ParseTime(when)
		if err != nil {
			return Event{}, ReasonBadTime
		}
		e.Time, e.HasTime = t, true
	}
	return e, ""
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// timeLayouts are the textual timestamps ParseTime accepts besides unix
// seconds: RFC 3339 and the forms BigQuery and common exports write.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// ParseTime reads a time as unix seconds (integer or decimal) or as one of
// the textual layouts above (UTC unless a zone is given), and returns unix
// seconds, rounded down.
func ParseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
			return 0, fmt.Errorf("time %q out of range", s)
		}
		return int64(math.Floor(f)), nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), nil
		}
	}
	return 0, fmt.Errorf("time %q is neither unix seconds nor RFC 3339 (2006-01-02T15:04:05Z)", s)
}
