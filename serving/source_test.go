package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// publish replaces path's content by rename, as the pipeline does.
func publish(t *testing.T, path, text string) {
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

// fileToken is the version a generation's files get, from os.Stat.
func fileToken(t *testing.T, sims, pop string) string {
	t.Helper()
	stampOf := func(path string) string {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime().UTC().Format(time.RFC3339Nano) + "/" + fmt.Sprint(fi.Size())
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
	publish(t, sims, genSims(1))
	publish(t, pop, genPopular(1))
	tokens := map[int]string{1: fileToken(t, sims, pop)}
	gen := 1
	next := func() {
		gen++
		publish(t, sims, genSims(gen))
		publish(t, pop, genPopular(gen))
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
	if g1, g2 := generationOf(t, m); g1 != 2 || g2 != 2 || m.Version() != tokens[2] || calls != 2 {
		t.Fatalf("after a publication during the read: similarities of generation %d, popular of %d, version %q (generation 2: %q), %d reads; want generation 2 in 2 reads",
			g1, g2, m.Version(), tokens[2], calls)
	}
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
	publish(t, sims, genSims(gen))
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	if g1, g2 := generationOf(t, m); g1 != gen || g2 != gen-1 || m.Version() != fileToken(t, sims, pop) {
		t.Fatalf("half published: generations %d and %d labelled %q, want %d and %d labelled %q", g1, g2, m.Version(), gen, gen-1, fileToken(t, sims, pop))
	}
	publish(t, pop, genPopular(gen))
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	m = s.model.Load()
	if g1, g2 := generationOf(t, m); g1 != gen || g2 != gen || m.Version() != fileToken(t, sims, pop) {
		t.Fatalf("published: generations %d and %d labelled %q, want %d labelled %q", g1, g2, m.Version(), gen, fileToken(t, sims, pop))
	}
}

// TestReloadRejectsCorruptModel: a published table with a similarity
// that is not a cosine is not loaded; the served model stays, and the
// error names the item, the neighbour and the value.
func TestReloadRejectsCorruptModel(t *testing.T) {
	dir := t.TempDir()
	sims := filepath.Join(dir, "s.jsonl")
	publish(t, sims, `{"item":"a","neighbors":[{"item":"b","score":0.5}]}`+"\n")
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims}, srv: s}
	ctx := context.Background()
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	good := s.model.Load()
	for _, score := range []string{"1.0000001", "-0.1", "9223372036854776000"} {
		publish(t, sims, `{"item":"a","neighbors":[{"item":"b","score":0.5}]}`+"\n"+
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

// TestDatastoreSourceNeverMixes: the pointer moves to a new version, and
// the popular file is replaced, between the read of the version's items
// and that of the popular file. The reload reads again and serves the new
// version with the new popular list, labelled with the version read.
func TestDatastoreSourceNeverMixes(t *testing.T) {
	srv, err := datastoretest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	const project, namespace, kind = "source-test", "ns", "Sim"
	client, err := datastore.NewClient(ctx, project,
		option.WithEndpoint("passthrough:///"+srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
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
	publish(t, pop, genPopular(1))
	src, err := newDatastoreSource(client, namespace, kind, pop)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	src.between = func() {
		if calls++; calls == 1 {
			put(2)
			publish(t, pop, genPopular(2))
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
	if g1, g2 := generationOf(t, m); g1 != 2 || g2 != 2 || m.Version() != "v2 popular:"+ps || calls != 2 {
		t.Fatalf("version %d with the popular list of %d, labelled %q, in %d reads; want version 2 labelled %q in 2 reads",
			g1, g2, m.Version(), calls, "v2 popular:"+ps)
	}
}
