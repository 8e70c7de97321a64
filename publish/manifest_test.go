package publish

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
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

// TestSimilarity: a manifest records the run's measure as its JSON names
// say and reads it back; one without (older runs) reads as nil, which
// readers take for cosine; a measure that is not a valid one is refused.
func TestSimilarity(t *testing.T) {
	sims := File{Path: "s.jsonl", Size: 3, SHA256: abcSHA256}
	cooc := model.Similarity{Measure: model.Cooccurrence, Weighting: model.WeightNone, BM25K1: 100, BM25B: 0.8, Alpha: 0.5, Shrinkage: 2}
	b, err := Manifest{Version: "v", Similarities: sims, Similarity: &cooc}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"v","similarities":{"path":"s.jsonl","size":3,"sha256":"` + abcSHA256 + `"},` +
		`"similarity":{"measure":"cooccurrence","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"shrinkage":2}}`
	if string(b) != want {
		t.Fatalf("Marshal:\n%s\nwant\n%s", b, want)
	}
	m, err := Parse(b)
	if err != nil || m.Similarity == nil || *m.Similarity != cooc {
		t.Fatalf("Parse: %+v, %v; want similarity %+v", m, err, cooc)
	}
	old := `{"version":"v","similarities":{"path":"s.jsonl","size":3,"sha256":"` + abcSHA256 + `"}}`
	if m, err := Parse([]byte(old)); err != nil || m.Similarity != nil {
		t.Errorf("a manifest without a similarity: %+v, %v; want nil", m, err)
	}
	for _, bad := range []string{
		`{}`,
		`{"measure":"dice","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5}`,
		`{"measure":"cosine","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":2}`,
		`{"measure":"jaccard","user_weighting":"idf","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5}`,
		`{"measure":"cosine","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"threshold":0.1}`,
	} {
		doc := strings.TrimSuffix(old, "}") + `,"similarity":` + bad + `}`
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), "manifest") {
			t.Errorf("Parse with similarity %s: %v, want an error", bad, err)
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
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"window":{"start":"2026-11-01T00:00:00+01:00","end":"2026-12-01T00:00:00Z"}}`))
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"similarity":{"measure":"cosine","user_weighting":"bm25","bm25_k1":1.2,"bm25_b":0.75,"asymmetric_alpha":0.2,"shrinkage":10}}`))
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
