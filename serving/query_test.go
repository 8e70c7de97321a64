package main

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAppendQuery: keys and values in order and unescaped, empty parts
// skipped, repeats and escaping errors rejected, and at most maxParams keys.
func TestAppendQuery(t *testing.T) {
	keys := func(n int) string {
		parts := make([]string, n)
		for k := range parts {
			parts[k] = fmt.Sprintf("k%d=%d", k, k)
		}
		return strings.Join(parts, "&")
	}
	tests := []struct {
		raw  string
		want []param // nil: compare keys(len) instead when len > 0
		len  int
		err  string
	}{
		{"", nil, 0, ""},
		{"&&", nil, 0, ""},
		{"a=1&b&c=&=d", []param{{"a", "1"}, {"b", ""}, {"c", ""}, {"", "d"}}, 0, ""},
		{"x%20y=a+b%2Cc&n=3", []param{{"x y", "a b,c"}, {"n", "3"}}, 0, ""},
		{"a=1&b=2&a=3", nil, 0, `parameter "a" is given twice`},
		{"a=1&%61=2", nil, 0, `parameter "a" is given twice`},
		{"=1&=2", nil, 0, `parameter "" is given twice`},
		{"a=%zz", nil, 0, "malformed query component"},
		{"a=%ff", nil, 0, "malformed query component"}, // not UTF-8
		{keys(maxParams), nil, maxParams, ""},
		{keys(maxParams) + "&&", nil, maxParams, ""},
		{keys(maxParams + 1), nil, 0, "more than 64 query parameters"},
		// The bound comes first: the repeat lies beyond it.
		{keys(maxParams) + "&k0=again", nil, 0, "more than 64 query parameters"},
	}
	for _, tc := range tests {
		got, err := appendQuery(nil, tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.60q: error %v, want %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%.60q: %v", tc.raw, err)
			continue
		}
		if tc.len > 0 {
			if len(got) != tc.len || got[tc.len-1] != (param{fmt.Sprint("k", tc.len-1), fmt.Sprint(tc.len - 1)}) {
				t.Errorf("%.60q: %d params, last %v", tc.raw, len(got), got[len(got)-1])
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.raw, got, tc.want)
		}
	}
	// Keys are compared only with those this call appends.
	got, err := appendQuery([]param{{"a", "0"}}, "a=1")
	if err != nil || len(got) != 2 {
		t.Errorf("appending after a caller's param: %v %v", got, err)
	}
}

// TestManyKeysQuery: a 40,000-key query (a 538 KB URL here, which
// net/http's 1 MB header limit lets through) is rejected with 400 and a
// clear message by the bound on keys, before any per-key work grows with
// the count.
func TestManyKeysQuery(t *testing.T) {
	var b strings.Builder
	b.WriteString("/make_recommendation?")
	for k := range 40000 {
		if k > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "k%d=v%d", k, k)
	}
	target := b.String()
	if len(target) < 300_000 || len(target) > 1<<20 {
		t.Fatalf("URL of %d bytes, want 300 KB to 1 MB", len(target))
	}
	s := newTestServer(t, testModel(t, "v1"))
	for _, path := range []string{target, "/v1/similar/a?" + target[len("/make_recommendation?"):]} {
		w := do(s, "GET", path, "")
		if want := `{"error":"more than 64 query parameters"}` + "\n"; w.Code != 400 || w.Body.String() != want {
			t.Errorf("%.40s...: %d %s, want 400 %s", path, w.Code, w.Body.String(), want)
		}
	}
}

// FuzzAppendQuery checks the query parser on arbitrary queries: no
// panic; on success at most maxParams unique keys, the same keys and
// values url.ParseQuery finds, and re-encoding the result parses back to
// it; a failure is one of the documented reasons.
func FuzzAppendQuery(f *testing.F) {
	for _, s := range []string{
		"", "browsed=a,b&purchased=c&n=3", "a=1&a=2", "%61=1&a=2", "x%20y=a+b", "a=%zz", "a=%ff", "&&=&", "a;b=1",
		"k=v&" + strings.Repeat("x=1&", 3), strings.Repeat("&", 100), "\xff=\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := appendQuery(nil, raw)
		want, perr := url.ParseQuery(raw)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "given twice") && !strings.Contains(msg, "more than") && !strings.Contains(msg, "malformed query component") {
				t.Fatalf("%q: unexpected error %v", raw, err)
			}
			if perr == nil && strings.Contains(msg, "given twice") {
				// url.ParseQuery collects every value of a key: a repeat
				// shows as two values.
				dup := false
				for _, vs := range want {
					dup = dup || len(vs) > 1
				}
				if !dup {
					t.Fatalf("%q: %v, but url.ParseQuery finds no repeated key: %v", raw, err, want)
				}
			}
			return
		}
		if len(got) > maxParams {
			t.Fatalf("%q: %d params, more than %d", raw, len(got), maxParams)
		}
		seen := map[string]bool{}
		for _, p := range got {
			if seen[p.key] {
				t.Fatalf("%q: key %q twice in %v", raw, p.key, got)
			}
			seen[p.key] = true
		}
		// url.ParseQuery rejects ';' in a key; otherwise it agrees.
		if perr == nil {
			if len(want) != len(got) {
				t.Fatalf("%q: %v, url.ParseQuery %v", raw, got, want)
			}
			for _, p := range got {
				if vs := want[p.key]; len(vs) != 1 || vs[0] != p.value {
					t.Fatalf("%q: %q=%q, url.ParseQuery has %q", raw, p.key, p.value, vs)
				}
			}
		}
		// Re-encoding parses back to the same params, unless a component
		// holds invalid UTF-8, which is accepted raw but never escaped.
		var parts []string
		valid := true
		for _, p := range got {
			valid = valid && utf8.ValidString(p.key) && utf8.ValidString(p.value)
			parts = append(parts, url.QueryEscape(p.key)+"="+url.QueryEscape(p.value))
		}
		again, err := appendQuery(nil, strings.Join(parts, "&"))
		if !valid {
			return
		}
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("%q: parsed %v; re-encoded %q parses to %v, %v", raw, got, strings.Join(parts, "&"), again, err)
		}
	})
}
