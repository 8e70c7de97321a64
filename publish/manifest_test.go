package publish

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The SHA-256 of "abc" from FIPS 180-2, appendix B.1.
const abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

func TestDescribeAndCheck(t *testing.T) {
	f, err := Describe("x", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (File{Path: "x", Size: 3, SHA256: abcSHA256}); f != want {
		t.Fatalf("Describe(abc) = %+v, want %+v", f, want)
	}
	if err := f.Check(f); err != nil {
		t.Errorf("a file checked against itself: %v", err)
	}
	for _, body := range []string{"ab", "abd", "abcd", ""} {
		got, _ := Describe("x", strings.NewReader(body))
		if err := f.Check(got); !errors.Is(err, ErrMismatch) {
			t.Errorf("%q checked against abc's description: %v, want ErrMismatch", body, err)
		}
	}
}

func TestMarshalParse(t *testing.T) {
	m := Manifest{Version: "20260101T000000Z",
		Similarities: File{Path: "s.jsonl", Size: 3, SHA256: abcSHA256},
		Popular:      &File{Path: "/abs/p.json", Size: 0, SHA256: strings.Repeat("0", 64)}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"20260101T000000Z","similarities":{"path":"s.jsonl","size":3,"sha256":"` + abcSHA256 +
		`"},"popular":{"path":"/abs/p.json","size":0,"sha256":"` + strings.Repeat("0", 64) + `"}}`
	if string(b) != want {
		t.Fatalf("Marshal:\n%s\nwant\n%s", b, want)
	}
	got, err := Parse(append(b, '\n'))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Parse(Marshal(m)) = %+v, %v; want %+v", got, err, m)
	}
	noPop := m
	noPop.Popular = nil
	if b, err := noPop.Marshal(); err != nil || strings.Contains(string(b), "popular") {
		t.Errorf("without a popular file: %s, %v", b, err)
	}

	good := `"similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"}`
	for _, bad := range []string{
		``,
		`{` + good + `}`, // no version
		`{"version":"v",` + good + `,"extra":1}`,
		`{"version":"v",` + good + `} {}`,
		`{"version":"v","similarities":{"path":"","size":1,"sha256":"` + abcSHA256 + `"}}`,
		`{"version":"v","similarities":{"path":"s","size":-1,"sha256":"` + abcSHA256 + `"}}`,
		`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + strings.ToUpper(abcSHA256) + `"}}`,
		`{"version":"v","similarities":{"path":"s","size":1,"sha256":"abc"}}`,
		`{"version":"v",` + good + `,"popular":{"path":"p","size":1,"sha256":""}}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) succeeded", bad)
		}
	}
}

func TestRelResolve(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "out", "s.jsonl.manifest.json")
	for _, tc := range []struct{ manifest, file, rel, resolved string }{
		{manifest, filepath.Join(dir, "out", "s.jsonl"), "s.jsonl", filepath.Join(dir, "out", "s.jsonl")},
		{manifest, filepath.Join(dir, "out", "sub", "p.json"), "sub/p.json", filepath.Join(dir, "out", "sub", "p.json")},
		{manifest, filepath.Join(dir, "elsewhere", "p.json"), filepath.Join(dir, "elsewhere", "p.json"), filepath.Join(dir, "elsewhere", "p.json")},
		{manifest, filepath.Join(dir, "out..x", "p.json"), filepath.Join(dir, "out..x", "p.json"), filepath.Join(dir, "out..x", "p.json")},
		{"gs://b/d/m.json", "gs://b/d/s.jsonl", "s.jsonl", "gs://b/d/s.jsonl"},
		{"gs://b/d/m.json", "gs://b/e/p.json", "gs://b/e/p.json", "gs://b/e/p.json"},
		{"gs://b/d/m.json", "gs://b/dd/p.json", "gs://b/dd/p.json", "gs://b/dd/p.json"},
	} {
		rel := Rel(tc.manifest, tc.file)
		if rel != tc.rel {
			t.Errorf("Rel(%s, %s) = %s, want %s", tc.manifest, tc.file, rel, tc.rel)
		}
		if got := Resolve(tc.manifest, rel); got != tc.resolved {
			t.Errorf("Resolve(%s, %s) = %s, want %s", tc.manifest, rel, got, tc.resolved)
		}
	}
	// A relative manifest path resolves against the working directory.
	if got := Resolve("out/m.json", "s.jsonl"); got != filepath.Join("out", "s.jsonl") {
		t.Errorf("Resolve(out/m.json, s.jsonl) = %s", got)
	}
}

// FuzzParse: Parse never panics, and what it accepts marshals back to a
// document it parses to the same manifest.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"popular":{"path":"p","size":2,"sha256":"` + abcSHA256 + `"}}`))
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"}}`))
	f.Add([]byte(`{"version":"","similarities":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted %q but cannot marshal it: %v", b, err)
		}
		again, err := Parse(out)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("%q: parsed %+v, re-parsed %+v, %v", b, m, again, err)
		}
	})
}
