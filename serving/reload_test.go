package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/recommend"
)

// prefixModel: the profile item "x" has neighbours p1 .. p5 with
// similarities 5/8, 4/8, .., 1/8 (p the model's prefix), so every answer
// names its model.
func prefixModel(t testing.TB, prefix string) *recommend.Model {
	t.Helper()
	l := model.Neighbors{Item: "x"}
	for k := 1; k <= 5; k++ {
		l.Neighbors = append(l.Neighbors, nb(fmt.Sprintf("%s%d", prefix, k), float64(6-k)/8))
	}
	m, err := recommend.Build([]model.Neighbors{l}, nil, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAtomicSwap swaps two models while concurrent requests run and checks
// that every answer is exactly one model's answer.
func TestAtomicSwap(t *testing.T) {
	models := []*recommend.Model{prefixModel(t, "a"), prefixModel(t, "b")}
	s := newTestServer(t, models[0])
	want := map[string]string{}
	for _, m := range models {
		p := m.Version()
		// x browsed: weight .5, so scores 5/16, 4/16, 3/16.
		want[p] = fmt.Sprintf(`{"result":[{"item":"%s1","score":0.3125},{"item":"%s2","score":0.25},{"item":"%s3","score":0.1875}],"version":"%s"}`, p, p, p, p)
	}
	var stop atomic.Bool
	var swaps sync.WaitGroup
	swaps.Add(1)
	go func() {
		defer swaps.Done()
		for i := 0; !stop.Load(); i++ {
			s.setModel(models[i%2])
		}
	}()
	var wg sync.WaitGroup
	seen := make([]map[string]int, 4)
	for g := range seen {
		seen[g] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				w := do(s, "GET", "/make_recommendation?browsed=x&n=3", "")
				var r struct{ Version string }
				json.Unmarshal(w.Body.Bytes(), &r)
				if body := strings.TrimSuffix(w.Body.String(), "\n"); w.Code != 200 || body != want[r.Version] {
					t.Errorf("answer mixes models or fails: %d %s", w.Code, body)
					return
				}
				seen[g][r.Version]++
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	swaps.Wait()
	total := map[string]int{}
	for _, m := range seen {
		for v, n := range m {
			total[v] += n
		}
	}
	if total["a"] == 0 || total["b"] == 0 {
		t.Errorf("answers per model %v: the swap did not interleave with requests", total)
	}
}

// TestFileReload: the reloader loads at start, leaves an unchanged source
// alone, loads a changed one, and keeps serving the old model when the new
// one is broken.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	sims, pop := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "p.json")
	write := func(path, text string) {
		t.Helper()
		// Replace by rename, as the pipeline does.
		if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(sims, `{"item":"a","neighbors":[{"item":"b","score":0.5}]}`+"\n")
	write(pop, `{"items":[{"item":"b","users":3}]}`)
	s := newTestServer(t, nil)
	r := &reloader{src: fileSource{similarities: sims, popular: pop}, srv: s}
	ctx := context.Background()

	similar := func() string { return strings.TrimSpace(do(s, "GET", "/v1/similar/a", "").Body.String()) }
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	first := s.model.Load()
	if got := similar(); !strings.Contains(got, `{"item":"b","score":0.5}`) {
		t.Fatalf("after the first load: %s", got)
	}
	if err := r.check(ctx); err != nil || s.model.Load() != first {
		t.Fatalf("unchanged files were reloaded (err %v)", err)
	}
	write(sims, `{"item":"a","neighbors":[{"item":"c","score":0.75}]}`+"\n")
	if err := r.check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := similar(); !strings.Contains(got, `{"item":"c","score":0.75}`) || s.model.Load() == first {
		t.Fatalf("after a change: %s", got)
	}
	second := s.model.Load()
	write(sims, "{broken\n")
	if err := r.check(ctx); err == nil || s.model.Load() != second {
		t.Fatalf("a broken file: error %v, served model replaced: %v", err, s.model.Load() != second)
	}
	if ok, bad := s.metrics.reloads[0].Load(), s.metrics.reloads[1].Load(); ok != 2 || bad != 1 {
		t.Errorf("reloads ok=%d error=%d, want 2 and 1", ok, bad)
	}
}
