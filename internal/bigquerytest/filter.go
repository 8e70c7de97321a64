package bigquerytest

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// filter is a parsed row restriction: terms joined by AND.
type filter []term

// term compares one column with a literal.
type term struct {
	col int
	op  string
	str *string  // a string literal
	num *big.Rat // a numeric literal
}

var (
	andRE  = regexp.MustCompile(`(?i)\s+AND\s+`)
	termRE = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=|!=|<>|<=|>=|<|>)\s*(.+?)\s*$`)
)

// parseFilter reads the subset of row restrictions this fake supports:
// `column op literal` terms joined by AND, where op is one of = != <> < <=
// > >= and literal a quoted string or a number. An empty restriction keeps
// every row.
func parseFilter(s string, cols []Column) (filter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var f filter
	for _, part := range andRE.Split(s, -1) {
		m := termRE.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("unsupported row restriction term %q", part)
		}
		t := term{col: -1, op: m[2]}
		for i, c := range cols {
			if c.Name == m[1] {
				t.col = i
			}
		}
		if t.col < 0 {
			return nil, fmt.Errorf("row restriction: unrecognized name: %s", m[1])
		}
		lit := m[3]
		if len(lit) >= 2 && (lit[0] == '\'' || lit[0] == '"') && lit[len(lit)-1] == lit[0] {
			s := lit[1 : len(lit)-1]
			t.str = &s
		} else if r, ok := new(big.Rat).SetString(lit); ok {
			t.num = r
		} else {
			return nil, fmt.Errorf("row restriction: unsupported literal %s", lit)
		}
		f = append(f, t)
	}
	return f, nil
}

// keep reports whether a row passes every term. NULL passes none, as in SQL.
func (f filter) keep(row []any) bool {
	for _, t := range f {
		c, ok := t.compare(row[t.col])
		if !ok {
			return false
		}
		var pass bool
		switch t.op {
		case "=":
			pass = c == 0
		case "!=", "<>":
			pass = c != 0
		case "<":
			pass = c < 0
		case "<=":
			pass = c <= 0
		case ">":
			pass = c > 0
		case ">=":
			pass = c >= 0
		}
		if !pass {
			return false
		}
	}
	return true
}

// compare orders a value against the term's literal; ok is false for NULL
// or a value the literal cannot be compared with.
func (t term) compare(v any) (int, bool) {
	if t.str != nil {
		s, ok := v.(string)
		return strings.Compare(s, *t.str), ok
	}
	var r *big.Rat
	switch v := v.(type) {
	case int64:
		r = new(big.Rat).SetInt64(v)
	case float64:
		r = new(big.Rat)
		if r.SetFloat64(v) == nil {
			return 0, false
		}
	case string: // NUMERIC
		var ok bool
		if r, ok = new(big.Rat).SetString(v); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	return r.Cmp(t.num), true
}
