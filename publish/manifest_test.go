package publish

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
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

// TestALS: the ALS job's files and settings are written under their JSON
// names and read back; a manifest without them (every earlier run's)
// reads as nil; factor files without the settings, invalid settings, and
// two entries naming one path are refused.
func TestALS(t *testing.T) {
	file := func(path string) *File { return &File{Path: path, Size: 3, SHA256: abcSHA256} }
	cfg := als.Config{Rank: 64, Lambda: 0.05, Implicit: true, Alpha: 40, Iterations: 15, Seed: 7}
	m := Manifest{Version: "v", Similarities: *file("s.jsonl"), Users: file("users.jsonl"),
		ItemFactors: file("items.jsonl"), UserFactors: file("/abs/users-f.jsonl"), ALS: &cfg}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f := func(path string) string { return `{"path":"` + path + `","size":3,"sha256":"` + abcSHA256 + `"}` }
	want := `{"version":"v","similarities":` + f("s.jsonl") + `,"users":` + f("users.jsonl") +
		`,"item_factors":` + f("items.jsonl") + `,"user_factors":` + f("/abs/users-f.jsonl") +
		`,"als":{"rank":64,"lambda":0.05,"implicit":true,"alpha":40,"iterations":15,"seed":7}}`
	if string(b) != want {
		t.Fatalf("Marshal:\n%s\nwant\n%s", b, want)
	}
	if got, err := Parse(b); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("Parse(Marshal(m)) = %+v, %v; want %+v", got, err, m)
	}
	// User lists alone need no settings: serving them solves nothing.
	listsOnly := `{"version":"v","similarities":` + f("s.jsonl") + `,"users":` + f("u.jsonl") + `}`
	if got, err := Parse([]byte(listsOnly)); err != nil || got.Users == nil || got.ALS != nil || got.ItemFactors != nil {
		t.Errorf("Parse(%s) = %+v, %v", listsOnly, got, err)
	}
	old := `{"version":"v","similarities":` + f("s.jsonl") + `}`
	if got, err := Parse([]byte(old)); err != nil || got.Users != nil || got.ItemFactors != nil || got.UserFactors != nil || got.ALS != nil {
		t.Errorf("an earlier manifest: %+v, %v", got, err)
	}
	base := strings.TrimSuffix(old, "}")
	for _, tc := range []struct{ extra, want string }{
		{`,"item_factors":` + f("i"), "factor files without als"},
		{`,"user_factors":` + f("u"), "factor files without als"},
		{`,"item_factors":` + f("i") + `,"als":{"rank":0,"lambda":0.1,"implicit":false,"alpha":0,"iterations":1,"seed":0}`, "--rank=0"},
		{`,"als":{"rank":8,"lambda":-1,"implicit":false,"alpha":0,"iterations":1,"seed":0}`, "--lambda=-1"},
		{`,"als":{"rank":8,"lambda":0.1,"implicit":true,"alpha":-2,"iterations":1,"seed":0}`, "--alpha=-2"},
		{`,"als":{"rank":8,"lambda":0.1,"implicit":true,"alpha":1,"iterations":0,"seed":0}`, "--iterations=0"},
		{`,"als":{"rank":8,"lambda":0.1,"implicit":true,"alpha":1,"iterations":1,"seed":0,"solver":"cg"}`, "unknown field"},
		{`,"users":{"path":"u","size":1,"sha256":"xyz"}`, "not 64 lower-case hex"},
		{`,"users":` + f("s.jsonl"), "s.jsonl is named for two files"},
		{`,"users":` + f("x") + `,"item_factors":` + f("x") + `,"als":{"rank":8,"lambda":0.1,"implicit":false,"alpha":0,"iterations":1,"seed":0}`, "x is named for two files"},
	} {
		doc := base + tc.extra + "}"
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): %v, want an error saying %q", doc, err, tc.want)
		}
	}
	bad := m
	bad.ALS = nil
	if _, err := bad.Marshal(); err == nil {
		t.Error("Marshal wrote factor files without their settings")
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
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"users":{"path":"u","size":2,"sha256":"` + abcSHA256 + `"},"item_factors":{"path":"i","size":3,"sha256":"` + abcSHA256 + `"},"user_factors":{"path":"f","size":4,"sha256":"` + abcSHA256 + `"},"als":{"rank":64,"lambda":0.05,"implicit":true,"alpha":40,"iterations":15,"seed":18446744073709551615}}`))
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"users":{"path":"u","size":2,"sha256":"` + abcSHA256 + `"}}`))
	f.Add([]byte(`{"version":"v","similarities":{"path":"s","size":1,"sha256":"` + abcSHA256 + `"},"item_factors":{"path":"s","size":3,"sha256":"` + abcSHA256 + `"},"als":{"rank":1e3,"lambda":1e-300,"implicit":false,"alpha":0,"iterations":1,"seed":0}}`))
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
