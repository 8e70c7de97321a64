package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	als "github.com/recsys/itemsim/model/als"
	tals "github.com/recsys/itemsim/transforms/als"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// TestObjectiveByHand: one user, two items, rank 1: x = 2, y = (3, −1),
// the user rates the first item 1. Explicit: (1 − 6)² + λ(1·2² + 1·3² +
// 0·1²) = 25 + 1.3. Implicit (α = 2, c = 3): 3(1 − 6)² on the rated pair,
// 1·(0 − (−2))² on the other, + λ(2² + 3² + 1²) = 75 + 4 + 1.4.
func TestObjectiveByHand(t *testing.T) {
	f := &als.Factors{Rank: 1, Users: []string{"u"}, Items: []string{"a", "b"}, UserFactors: []float64{2}, ItemFactors: []float64{3, -1}}
	rs := []als.Rating{{User: "u", Item: "a", Value: 1}}
	for _, c := range []struct {
		cfg  als.Config
		want float64
	}{
		{als.Config{Rank: 1, Lambda: 0.1}, 26.3},
		{als.Config{Rank: 1, Lambda: 0.1, Implicit: true, Alpha: 2}, 80.4},
	} {
		got, err := objective(c.cfg, f, rs)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("implicit %v: objective %v, want %v", c.cfg.Implicit, got, c.want)
		}
	}
	if _, err := objective(als.Config{Rank: 1}, f, []als.Rating{{User: "v", Item: "a", Value: 1}}); err == nil {
		t.Error("no error for a user without a factor")
	}
}

// tiny is a seeded sparse ratings file: 40 users each rate 3 to 12 of 25
// items, scores 0.5, 2 or 6 (the default action weights) or, for a third
// of the pairs, a fraction; it returns the ratings and the file.
func tiny(t *testing.T) ([]als.Rating, string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var rs []als.Rating
	var b strings.Builder
	for u := range 40 {
		for _, i := range rng.Perm(25)[:3+rng.IntN(10)] {
			v := []float64{0.5, 2, 6}[rng.IntN(3)]
			if rng.IntN(3) == 0 {
				v = 0.1 + rng.Float64()
			}
			r := als.Rating{User: fmt.Sprintf("u%02d", u), Item: fmt.Sprintf("i%02d", i), Value: v}
			rs = append(rs, r)
			fmt.Fprintf(&b, "%s\t%s\t%s\n", r.User, r.Item, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	path := filepath.Join(t.TempDir(), "ratings.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return rs, path
}

// TestPipelineIsTheReference: the benchmark's pipeline, reading the file,
// writes als.Train's factors (the same bits), which readFactors reads back.
func TestPipelineIsTheReference(t *testing.T) {
	rs, path := tiny(t)
	for _, implicit := range []bool{true, false} {
		cfg := als.Config{Rank: 4, Lambda: 0.1, Implicit: implicit, Alpha: 2, Iterations: 3, Seed: 5}
		want, err := als.Train(cfg, rs, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := runPipeline(context.Background(), tals.Config{Config: cfg, Blocks: 3}, path, dir); err != nil {
			t.Fatal(err)
		}
		got, err := readFactors(dir, cfg.Rank)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := maxAbsDiff(want, got); err != nil || d != 0 {
			t.Errorf("implicit %v: max abs diff %v (%v), want 0", implicit, d, err)
		}
	}
}

// TestMaxAbsDiff: the largest difference, and an error for other ids.
func TestMaxAbsDiff(t *testing.T) {
	a := &als.Factors{Rank: 1, Users: []string{"u"}, Items: []string{"a", "b"}, UserFactors: []float64{1}, ItemFactors: []float64{2, 3}}
	b := &als.Factors{Rank: 1, Users: []string{"u"}, Items: []string{"a", "b"}, UserFactors: []float64{1.5}, ItemFactors: []float64{2, 2}}
	if d, err := maxAbsDiff(a, b); err != nil || d != 1 {
		t.Errorf("got %v, %v; want 1", d, err)
	}
	b.Items = []string{"a", "c"}
	if _, err := maxAbsDiff(a, b); err == nil {
		t.Error("no error for different items")
	}
}

// python is a Python with numpy and pandas for the peer, or the test is
// skipped: $PYTHON, else /usr/bin/python3 (what `make bench-deps` fills).
func python(t *testing.T) string {
	t.Helper()
	py := os.Getenv("PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if out, err := exec.Command(py, "-c", "import numpy, pandas").CombinedOutput(); err != nil {
		t.Skipf("the numpy peer needs %s with numpy and pandas (make bench-deps): %v: %s", py, err, strings.TrimSpace(string(out)))
	}
	return py
}

// TestNumpyPeerIsTheReference runs bench/peers/als_numpy.py on a small
// file from the reference's starting factors (--impl=init's file): its
// factors are als.Train's within 1e-6 after 3 iterations, and its
// objective the one objective computes at Train's factors, in both modes.
func TestNumpyPeerIsTheReference(t *testing.T) {
	py := python(t)
	rs, path := tiny(t)
	for _, implicit := range []bool{true, false} {
		cfg := als.Config{Rank: 4, Lambda: 0.1, Implicit: implicit, Alpha: 2, Iterations: 3, Seed: 5}
		want, err := als.Train(cfg, rs, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		init, factorsOut := filepath.Join(dir, "init"), filepath.Join(dir, "factors.tsv")
		if err := writeInit(path, cfg, init); err != nil {
			t.Fatal(err)
		}
		args := []string{"../../../peers/als_numpy.py", "--ratings=" + path, "--init=" + init, "--rank=4", "--lambda=0.1",
			"--iterations=3", "--factors_output=" + factorsOut}
		if implicit {
			args = append(args, "--implicit", "--alpha=2")
		}
		out, err := exec.Command(py, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", py, args, err, out)
		}
		got := readPeerFactors(t, factorsOut, cfg.Rank)
		if d, err := maxAbsDiff(want, got); err != nil || d > 1e-6 {
			t.Errorf("implicit %v: factors' max abs diff from Train's %v (%v), want ≤ 1e-6", implicit, d, err)
		}
		obj, err := objective(cfg, want, rs)
		if err != nil {
			t.Fatal(err)
		}
		var peerObj float64
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "objective: "); ok {
				peerObj, _ = strconv.ParseFloat(v, 64)
			}
		}
		if math.Abs(peerObj-obj) > 1e-6*math.Abs(obj) {
			t.Errorf("implicit %v: the peer's objective %v, Train's %v", implicit, peerObj, obj)
		}
		if strings.Count(string(out), "iteration ") != 3 || !strings.Contains(string(out), "seconds per iteration: ") {
			t.Errorf("implicit %v: want 3 iteration lines and seconds per iteration in\n%s", implicit, out)
		}
	}
}

// readPeerFactors reads the peer's --factors_output ("user|item<TAB>id<TAB>x1 x2 ...").
func readPeerFactors(t *testing.T, path string, rank int) *als.Factors {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := &als.Factors{Rank: rank}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("line %q: want 3 fields", sc.Text())
		}
		var xs []float64
		for _, s := range strings.Fields(fields[2]) {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, v)
		}
		if len(xs) != rank {
			t.Fatalf("line %q: want %d numbers", sc.Text(), rank)
		}
		switch fields[0] {
		case "user":
			out.Users, out.UserFactors = append(out.Users, fields[1]), append(out.UserFactors, xs...)
		case "item":
			out.Items, out.ItemFactors = append(out.Items, fields[1]), append(out.ItemFactors, xs...)
		default:
			t.Fatalf("line %q: side %q", sc.Text(), fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
