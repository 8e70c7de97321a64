package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestDoc is the manifest as this test reads it, with encoding/json
// rather than package publish, so that the check does not share the code
// it checks.
type manifestDoc struct {
	Version      string
	Similarities manifestFile
	Popular      *manifestFile
	Similarity   json.RawMessage
}

// The similarity a manifest records for the default flags and for
// --measure=cooccurrence, as written by hand.
const (
	cosineJSON       = `{"measure":"cosine","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"shrinkage":0,"rp3_beta":0.5}`
	cooccurrenceJSON = `{"measure":"cooccurrence","user_weighting":"none","bm25_k1":100,"bm25_b":0.8,"asymmetric_alpha":0.5,"shrinkage":0,"rp3_beta":0.5}`
)

type manifestFile struct {
	Path   string
	Size   int64
	SHA256 string
}

func readManifest(t *testing.T, path string) manifestDoc {
	t.Helper()
	var m manifestDoc
	if err := json.Unmarshal([]byte(readFile(t, path)), &m); err != nil {
		t.Fatalf("manifest %s: %v", path, err)
	}
	return m
}

// checkDescribes checks that f gives the path want and the real size and
// SHA-256 of the file at file, as os.Stat and crypto/sha256 see it.
func checkDescribes(t *testing.T, f manifestFile, want, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if f.Path != want || f.Size != int64(len(b)) || f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("manifest entry %+v; want path %s, size %d, sha256 %x", f, want, len(b), sum)
	}
	if len(b) == 0 {
		t.Errorf("%s is empty: the check proves little", file)
	}
}

// TestManifest runs the job twice on Prism: with --popular_output the
// manifest appears beside the output, names both files relative to itself
// and gives their real sizes and hashes, under the run's id; an explicit
// --manifest_output in another directory names the output absolutely, and
// without --popular_output it lists no popular file. Each records the
// run's similarity measure.
func TestManifest(t *testing.T) {
	dir := t.TempDir()
	out, pop := filepath.Join(dir, "sim.jsonl"), filepath.Join(dir, "popular.json")
	mustRun(t, "--input="+fixture, "--output="+out, "--popular_output="+pop, "--run_id=run-1")
	m := readManifest(t, out+".manifest.json")
	if m.Version != "run-1" || m.Popular == nil || string(m.Similarity) != cosineJSON {
		t.Fatalf("manifest %+v: want version run-1, a popular file and similarity %s", m, cosineJSON)
	}
	checkDescribes(t, m.Similarities, "sim.jsonl", out)
	checkDescribes(t, *m.Popular, "popular.json", pop)

	other := filepath.Join(t.TempDir(), "m.json")
	out2 := filepath.Join(dir, "sim2.jsonl")
	mustRun(t, "--input="+fixture, "--output="+out2, "--manifest_output="+other, "--popular_output=", "--run_id=run-2", "--measure=cooccurrence")
	m = readManifest(t, other)
	if m.Version != "run-2" || m.Popular != nil || string(m.Similarity) != cooccurrenceJSON {
		t.Fatalf("manifest %+v: want version run-2, no popular file and similarity %s", m, cooccurrenceJSON)
	}
	checkDescribes(t, m.Similarities, out2, out2)
	if _, err := os.Stat(out2 + ".manifest.json"); !os.IsNotExist(err) {
		t.Errorf("a manifest was written beside the output too (%v)", err)
	}
}

// TestFailedRunKeepsPublication: a run that fails its bad-row check
// writes none of the files a publication is made of, so the manifest
// still names the previous run's files and they still match it.
func TestFailedRunKeepsPublication(t *testing.T) {
	dir := t.TempDir()
	out, pop := filepath.Join(dir, "sim.jsonl"), filepath.Join(dir, "popular.json")
	manifest := out + ".manifest.json"
	mustRun(t, "--input="+fixture, "--output="+out, "--popular_output="+pop, "--run_id=good")
	before := map[string]string{}
	for _, f := range []string{out, pop, manifest} {
		before[f] = readFile(t, f)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("user,productSku,type\nu1,a,1\nu1,b,9\nu2,,1\nu2,a,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runJob(t, "--input="+bad, "--output="+out, "--popular_output="+pop, "--run_id=bad",
		"--dead_letter="+filepath.Join(dir, "dead.jsonl"), "--max_bad_fraction=0.1")
	if err == nil || !strings.Contains(err.Error(), "2 of 4 rows") {
		t.Fatalf("the run with 2 bad rows of 4 did not fail its check: %v", err)
	}
	for f, b := range before {
		if got := readFile(t, f); got != b {
			t.Errorf("%s changed although the run failed", filepath.Base(f))
		}
	}
	if m := readManifest(t, manifest); m.Version != "good" {
		t.Errorf("the manifest names run %q, want the published run good", m.Version)
	}
}

// TestManifestBoundsCounts: a --measure=cooccurrence run's counts exceed 1,
// so they are not cosines; the measure its manifest records lets them
// load, and the cosine bound a reader assumes without it refuses them.
func TestManifestBoundsCounts(t *testing.T) {
	dir := t.TempDir()
	out, pop := filepath.Join(dir, "sim.jsonl"), filepath.Join(dir, "popular.json")
	mustRun(t, "--input="+fixture, "--output="+out, "--popular_output="+pop, "--run_id=counts", "--measure=cooccurrence")
	lists, err := recommend.ReadNeighborsFile(out)
	if err != nil {
		t.Fatal(err)
	}
	most := 0.0
	for _, l := range lists {
		for _, n := range l.Neighbors {
			most = max(most, n.Score)
		}
	}
	if most <= 1 {
		t.Fatalf("the largest count is %v: the fixture shows nothing unless a pair has more than one user", most)
	}
	b, err := os.ReadFile(out + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := publish.Parse(b)
	if err != nil || m.Similarity == nil {
		t.Fatalf("manifest %+v, %v: want a similarity", m, err)
	}
	if _, err := recommend.BuildWithBound(lists, nil, m.Version, recommend.ScoreBound(*m.Similarity)); err != nil {
		t.Errorf("counts under the manifest's measure: %v", err)
	}
	if _, err := recommend.Build(lists, nil, m.Version); err == nil || !strings.Contains(err.Error(), "outside [0, 1.000000001]") {
		t.Errorf("counts as cosines: %v, want refused", err)
	}
}
