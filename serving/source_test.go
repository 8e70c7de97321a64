package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

// replaceFile replaces path's content by rename, as the pipeline does.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// generation g of a published model: item "a" has the one neighbour
// "n<g>" and the popular list is "p<g>", so a model shows which
// generation each half came from. Ids grow in length with g, so every
// generation changes both files' sizes.
func genSims(g int) string {
	return fmt.Sprintf(`{"item":"a","neighbors":[{"item":"n%s","score":0.5}]}`+"\n", strings.Repeat("x", g))
}

func genPopular(g int) string {
	return fmt.Sprintf(`{"items":[{"item":"p%s","users":7}]}`, strings.Repeat("x", g))
}

// generationOf reads back which generation each half of m came from.
func generationOf(t *testing.T, m *recommend.Model) (sims, pop int) {
	t.Helper()
	nbrs, _ := m.Similar("a", 10)
	res := m.Recommend(nil, nil, recommend.Options{N: 10})
	if len(nbrs) != 1 || len(res.Items) != 1 {
		t.Fatalf("model %q: neighbours %v, popular %v", m.Version(), nbrs, res.Items)
	}
	return len(nbrs[0].Item) - 1, len(res.Items[0].Item) - 1
}

// wantModel fails the test unless m serves similarities of generation
// sims and a popular list of generation pop under the label version; when
// names the moment checked.
func wantModel(t *testing.T, when string, m *recommend.Model, sims, pop int, version string) {
	t.Helper()
	if g1, g2 := generationOf(t, m); g1 != sims || g2 != pop || m.Version() != version {
		t.Fatalf("%s: similarities of generation %d, popular list of %d, labelled %q; want %d and %d labelled %q",
			when, g1, g2, m.Version(), sims, pop, version)
	}
}

// wantReads fails the test unless the source was read reads times.
func wantReads(t *testing.T, when string, calls, reads int) {
	t.Helper()
	if calls != reads {
		t.Fatalf("%s: %d reads, want %d", when, calls, reads)
	}
}

// fileToken is the version a generation's files get, from os.Stat.
func fileToken(t *testing.T, sims, pop string) string {
	t.Helper()
	stampOf := func(path string) string {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		s := fi.ModTime().UTC().Format(time.RFC3339Nano) + "/" + fmt.Sprint(fi.Size())
		if ino := inode(fi); ino != 0 {
			s += "/i" + fmt.Sprint(ino)
		}
		return s
	}
	return "file:" + stampOf(sims) + " popular:" + stampOf(pop)
}

// TestFileSourceNeverMixes publishes a new generation between the read of
// the similarities and that of the popular file (the similarities first,
// then the popular file, as two renames): the reload must never serve a
// new table with an old popular list, or the reverse, and its version
// must be the stamps of the files whose content it serves.
func TestFileSourceNeverMixes(t *testing.T) {
	dir := t.TempDir()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	replaceFile(t, sims, genSims(1))
	replaceFile(t, pop, genPopular(1))
	tokens := map[int]string{1: fileToken(t, sims, pop)}
	gen := 1
	next := func() {
		gen++
		replaceFile(t, sims, genSims(gen))
		replaceFile(t, pop, genPopular(gen))
		tokens[gen] = fileToken(t, sims, pop)
	}
	calls := 0
	src := fileSource{similarities: sims, popular: pop}
	s := newTestServer(t, nil)
	r := &reloader{src: &src, srv: s}
	ctx := context.Background()

	// Publish during the first read only: the second read is consistent.
	src.between = func() {
		if calls++; calls == 1 {
			next()
		}
	}
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	wantModel(t, "after a publication during the read", m, 2, 2, tokens[2])
	wantReads(t, "after a publication during the read", calls, 2)
	if err := r.check(ctx); err != nil || s.model.Load() != m || calls != 2 {
		t.Fatalf("an unchanged source was read again (err %v, %d reads)", err, calls)
	}

	// Publish during every read: the reload gives up and keeps the model.
	calls = 0
	src.between = func() { calls++; next() }
	next()
	if err := r.check(ctx); err == nil || !strings.Contains(err.Error(), "changed during each of 3 reads") {
		t.Fatalf("a source changing during every read: error %v", err)
	}
	if s.model.Load() != m || calls != maxReadAttempts {
		t.Fatalf("after %d reads the served model was replaced", calls)
	}
	src.between = nil
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	if m := s.model.Load(); m.Version() != tokens[gen] {
		t.Fatalf("once the source is quiet: version %q, want %q", m.Version(), tokens[gen])
	}

	// Half a publication (the similarities renamed, the popular file not
	// yet) is a state of the files like any other: without a manifest
	// naming the pair, the server cannot tell it from a run that only
	// changed one file. It is served under the stamps of exactly what was
	// read, and the next poll after the second rename loads the new pair.
	gen++
	replaceFile(t, sims, genSims(gen))
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	wantModel(t, "half published", m, gen, gen-1, fileToken(t, sims, pop))
	replaceFile(t, pop, genPopular(gen))
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	wantModel(t, "published", m, gen, gen, fileToken(t, sims, pop))
}

// TestReloadRejectsCorruptModel: a published table with a similarity
// that is not a cosine is not loaded; the served model stays, and the
// error names the item, the neighbour and the value.
func TestReloadRejectsCorruptModel(t *testing.T) {
	dir := t.TempDir()
	sims := filepath.Join(dir, "s.jsonl")
	replaceFile(t, sims, `{"item":"a","neighbors":[{"item":"b","score":0.5}]}`+"\n")
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims}, srv: s}
	ctx := context.Background()
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	good := s.model.Load()
	for _, score := range []string{"1.0000001", "-0.1", "9223372036854776000"} {
		replaceFile(t, sims, `{"item":"a","neighbors":[{"item":"b","score":0.5}]}`+"\n"+
			`{"item":"b","neighbors":[{"item":"a","score":0.5},{"item":"c","score":`+score+`}]}`+"\n")
		err := r.check(ctx)
		if err == nil || !strings.Contains(err.Error(), `item "b": neighbour "c" has similarity`) {
			t.Errorf("similarity %s: error %v", score, err)
		}
		if s.model.Load() != good {
			t.Errorf("similarity %s: the served model was replaced", score)
		}
	}
}

// TestDatastoreSourceNeverMixes: with versions that have no popular list
// of their own (written by runs before lists were stored), the pointer
// moves to a new version, and the popular file is replaced, between the
// read of the version's items and that of the popular file. The reload
// reads again and serves the new version with the new popular list,
// labelled with the version and the file's stamp.
func TestDatastoreSourceNeverMixes(t *testing.T) {
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	const project, namespace, kind = "source-test", "ns", "Sim"
	client := datastoretest.Client(t, project, srv.Addr)
	keys := simstore.Keys{Namespace: namespace, Kind: kind}
	// put writes version g (item a with neighbour n<g>) and points at it.
	put := func(g int) {
		t.Helper()
		v := fmt.Sprintf("v%d", g)
		if _, err := client.Put(ctx, keys.Version(v), &simstore.VersionInfo{State: simstore.StateComplete, Items: 1}); err != nil {
			t.Fatal(err)
		}
		e := &simstore.Entity{Items: []string{"n" + strings.Repeat("x", g)}, Scores: []float64{0.5}, Version: v}
		if _, err := client.Put(ctx, keys.Item(v, "a"), e); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Put(ctx, keys.Pointer(), &simstore.Pointer{Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	pop := filepath.Join(t.TempDir(), "p.json")
	put(1)
	replaceFile(t, pop, genPopular(1))
	src, err := newDatastoreSource(client, namespace, kind, pop)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	src.between = func() {
		if calls++; calls == 1 {
			put(2)
			replaceFile(t, pop, genPopular(2))
		}
	}
	s := newTestServer(t, nil)
	r := &reloader{src: src, srv: s}
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	ps, err := stamp(pop)
	if err != nil {
		t.Fatal(err)
	}
	wantModel(t, "v2 and its popular file published during the read of v1", m, 2, 2, "v2 popular:"+ps)
	wantReads(t, "v2 and its popular file published during the read of v1", calls, 2)
}

// publishRun publishes run g as the pipeline does: the similarities, the
// popular file, then the manifest naming both (each by its own rename);
// steps limits how many of the three land, to stop in between.
func publishRun(t *testing.T, sims, pop string, g, steps int) {
	t.Helper()
	if steps >= 1 {
		replaceFile(t, sims, genSims(g))
	}
	if steps >= 2 {
		replaceFile(t, pop, genPopular(g))
	}
	if steps >= 3 {
		replaceFile(t, publish.DefaultPath(sims), manifestOf(t, fmt.Sprintf("run-%d", g), sims, pop))
	}
}

// manifestOf is the manifest of the files at sims and pop as they are.
func manifestOf(t *testing.T, version, sims, pop string) string {
	t.Helper()
	describe := func(path string) publish.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		d, err := publish.Describe(publish.Rel(publish.DefaultPath(sims), path), f)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	p := describe(pop)
	b, err := publish.Manifest{Version: version, Similarities: describe(sims), Popular: &p}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// quickRetries shortens the pause before re-reading mismatched files.
func quickRetries(t *testing.T) {
	old := mismatchPause
	mismatchPause = time.Millisecond
	t.Cleanup(func() { mismatchPause = old })
}

// TestManifestNeverMixes stops a publication between its renames: with
// run 1 published, run 2's similarities land, then its popular file, then
// its manifest. Until the manifest lands a reload fails (the files do not
// match the manifest) and run 1 stays served; a server starting then
// serves nothing rather than run 2's similarities with run 1's popular
// list. Once the manifest lands, run 2 is served under its version. A run
// published during a read (between the two files) is read again whole.
func TestManifestNeverMixes(t *testing.T) {
	quickRetries(t)
	dir := t.TempDir()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	publishRun(t, sims, pop, 1, 3)
	src := fileSource{similarities: sims, popular: pop}
	s := newTestServer(t, nil)
	r := &reloader{src: &src, srv: s}
	ctx := context.Background()
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	run1 := s.model.Load()
	wantModel(t, "run 1", run1, 1, 1, "run-1")

	for steps, moment := range []string{"", "similarities renamed", "popular file renamed too"} {
		if steps == 0 {
			continue
		}
		publishRun(t, sims, pop, 2, steps)
		err := r.check(ctx)
		if !errors.Is(err, publish.ErrMismatch) || !strings.Contains(err.Error(), "publication is in progress") {
			t.Errorf("%s: error %v, want a mismatch with the manifest", moment, err)
		}
		if s.model.Load() != run1 {
			t.Errorf("%s: the served model was replaced by %q", moment, s.model.Load().Version())
		}
		fresh := newTestServer(t, nil)
		if err := (&reloader{src: &src, srv: fresh}).check(ctx); !errors.Is(err, publish.ErrMismatch) || fresh.model.Load() != nil {
			t.Errorf("%s: a starting server: error %v, model %v; want a mismatch and no model", moment, err, fresh.model.Load())
		}
	}
	publishRun(t, sims, pop, 2, 3)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	wantModel(t, "run 2 published", m, 2, 2, "run-2")

	// Run 4 is published whole while run 3 is read, after its
	// similarities and before its popular file: that file does not match
	// run 3's manifest, and the second read serves run 4.
	calls := 0
	src.between = func() {
		if calls++; calls == 1 {
			publishRun(t, sims, pop, 4, 3)
		}
	}
	publishRun(t, sims, pop, 3, 3)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	wantModel(t, "run 4 published during a read", m, 4, 4, "run-4")
	wantReads(t, "run 4 published during a read", calls, 2)
}

// TestManifestRejectsDamage: files damaged after their manifest (cut
// short, one byte changed), a malformed manifest, or one describing other
// files, are refused with an error saying what is wrong; the served model
// stays.
func TestManifestRejectsDamage(t *testing.T) {
	quickRetries(t)
	dir := t.TempDir()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	manifest := publish.DefaultPath(sims)
	publishRun(t, sims, pop, 1, 3)
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims, popular: pop}, srv: s}
	ctx := context.Background()
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	good := s.model.Load()
	cases := []struct {
		name    string
		damage  func()
		wantErr []string
	}{
		{"similarities cut short", func() { replaceFile(t, sims, genSims(1)[:20]) },
			[]string{sims, "does not match the manifest", fmt.Sprintf("20 bytes, the manifest says %d", len(genSims(1)))}},
		{"popular file with one byte changed", func() { replaceFile(t, pop, strings.Replace(genPopular(1), "7", "8", 1)) },
			[]string{pop, "does not match the manifest", "SHA-256"}},
		{"malformed manifest", func() { replaceFile(t, manifest, `{"version":"run-1"`) },
			[]string{manifest, "manifest:"}},
		{"manifest of other similarities", func() {
			other := filepath.Join(dir, "other.jsonl")
			replaceFile(t, other, genSims(1))
			replaceFile(t, manifest, strings.Replace(manifestOf(t, "run-1", sims, pop), `"s.jsonl"`, `"other.jsonl"`, 1))
		}, []string{"describes " + filepath.Join(dir, "other.jsonl") + ", not --similarities"}},
		{"manifest without the popular file --popular names", func() {
			var m publish.Manifest
			if err := json.Unmarshal([]byte(manifestOf(t, "run-1", sims, pop)), &m); err != nil {
				t.Fatal(err)
			}
			m.Popular = nil
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			replaceFile(t, manifest, string(b))
		}, []string{manifest, "lists no popular file, but --popular is " + pop}},
	}
	for _, tc := range cases {
		publishRun(t, sims, pop, 1, 3)
		tc.damage()
		err := r.check(ctx)
		for _, want := range tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want it to say %q", tc.name, err, want)
			}
		}
		if s.model.Load() != good {
			t.Errorf("%s: the served model was replaced", tc.name)
		}
	}
}

// TestDatastoreSourceVersionPopular serves each version's own popular
// list, on the in-process server and the real emulator.
func TestDatastoreSourceVersionPopular(t *testing.T) {
	datastoretest.OnBoth(t, testDatastoreSourceVersionPopular)
}

// testDatastoreSourceVersionPopular: versions written by the pipeline's
// sink with their popular lists are served with those lists, labelled
// with the version alone, although --popular names a file (of another
// list); a version published between the read of the items and that of
// the list is read again whole; a version without a list (an older run's)
// falls back to the file.
func testDatastoreSourceVersionPopular(t *testing.T, addr string) {
	quickRetries(t)
	ctx := context.Background()
	client := datastoretest.Client(t, "source-test", addr)
	const namespace, kind = "ns", "Sim"
	keys := simstore.Keys{Namespace: namespace, Kind: kind}
	file := filepath.Join(t.TempDir(), "p.json")
	replaceFile(t, file, genPopular(9))
	src, err := newDatastoreSource(client, namespace, kind, file)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, nil)
	r := &reloader{src: src, srv: s}

	writeVersionWithPopular(t, addr, namespace, kind, 1)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m := s.model.Load()
	wantModel(t, "v1 (the file's list is 9)", m, 1, 1, "v1")

	// The pointer moves to v3 while v2 is read, after its items: the list
	// read is still v2's, and the moved pointer makes the reload read v3
	// whole.
	calls := 0
	src.between = func() {
		if calls++; calls == 1 {
			writeVersionWithPopular(t, addr, namespace, kind, 3)
		}
	}
	writeVersionWithPopular(t, addr, namespace, kind, 2)
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	wantModel(t, "v3 published during a read", m, 3, 3, "v3")
	wantReads(t, "v3 published during a read", calls, 2)
	src.between = nil

	// A version without a list takes the file's, and says so in its label.
	if _, err := client.Put(ctx, keys.Version("v4"), &simstore.VersionInfo{State: simstore.StateComplete, Items: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, keys.Item("v4", "a"), &simstore.Entity{Items: []string{"nxxxx"}, Scores: []float64{0.5}, Version: "v4"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, keys.Pointer(), &simstore.Pointer{Version: "v4"}); err != nil {
		t.Fatal(err)
	}
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	ps, err := stamp(file)
	if err != nil {
		t.Fatal(err)
	}
	wantModel(t, "a version without a list (the file's is 9)", m, 4, 9, "v4 popular:"+ps)
}

// writeVersionWithPopular writes generation g (item a with neighbour
// n<g>, popular list p<g>) as version v<g> with the pipeline's sink, which
// flips the pointer to it.
func writeVersionWithPopular(t *testing.T, addr, namespace, kind string, g int) {
	t.Helper()
	v := fmt.Sprintf("v%d", g)
	x := strings.Repeat("x", g)
	cfg := datastoreio.Config{Project: "source-test", Endpoint: addr, Namespace: namespace, Kind: kind, Version: v,
		Retry: datastoreio.Retry{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, ThrottleDelay: time.Millisecond}}
	p, s := beam.NewPipelineWithRoot()
	lists := []model.Neighbors{{Item: "a", Neighbors: []model.Neighbor{{Item: "n" + x, Score: 0.5}}}}
	datastoreio.WriteWithPopular(s, cfg, beam.CreateList(s, lists), beam.Create(s, []model.PopularItem{{Item: "p" + x, Users: 7}}))
	if err := ptest.Run(p); err != nil {
		t.Fatalf("writing version %s: %v", v, err)
	}
}

// TestStampSeesRename: a file replaced by a rename with the same size and
// modification time (two publications within one tick of the clock) gets
// a new stamp, from its inode, where the platform has inodes.
func TestStampSeesRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	publish := func(text string) string {
		replaceFile(t, path, text)
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
		st, err := stamp(path)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	before, after := publish(`{"alpha":0.2}`), publish(`{"alpha":0.5}`)
	if fi, _ := os.Stat(path); inode(fi) == 0 {
		t.Skipf("no inodes on %s: stamps are time and size only", runtime.GOOS)
	}
	if before == after {
		t.Errorf("stamp %q before and after the rename: want them to differ", after)
	}
}
