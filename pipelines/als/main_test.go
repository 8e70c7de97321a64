package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"cloud.google.com/go/datastore"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/internal/testlogs"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
)

// runMain is the environment variable that makes the test binary the job.
const runMain = "ALS_RUN_MAIN"

// TestMain runs the tests on Prism, or, with ALS_RUN_MAIN=1, is the als
// command itself.
func TestMain(m *testing.M) {
	if os.Getenv(runMain) == "1" {
		main()
		os.Exit(0)
	}
	ptest.MainWithDefault(m, "prism")
}

const fixture = "../../testdata/interactions.csv"

// movieLensFlags read MovieLens 100K's u.data, ratings as scores.
func movieLensFlags() []string {
	return []string{"--input=" + testlogs.MovieLensPath(), "--format=tsv", "--header=false", "--user_field=0", "--item_field=1", "--score_field=2"}
}

// runJob runs the whole job in this process with the given flags.
func runJob(t *testing.T, args ...string) (beam.PipelineResult, error) {
	t.Helper()
	return jobtest.RunJob(t, configFromFlags, run, args...)
}

func mustRun(t *testing.T, args ...string) beam.PipelineResult {
	t.Helper()
	res, err := runJob(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// ranked sorts scores into the n best, by (score desc, id asc): the
// brute-force order the job's lists must have.
func ranked(scores map[string]float64, n int) []model.Neighbor {
	var out []model.Neighbor
	for id, s := range scores {
		out = append(out, model.Neighbor{Item: id, Score: s})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].Item < out[b].Item
	})
	return out[:min(n, len(out))]
}

// sameTop checks that got is a top-n of scores (brute force): n items
// (or all), each with its brute-force score within 1e-12, best first, and
// the k-th as good as the brute force's k-th. The job scores with BLAS
// (als.Scores), the brute force with als.Dot: the same products summed in
// another order, so scores may differ in the last bits and ties within
// them may come in either order.
func sameTop(got []model.Neighbor, scores map[string]float64, n int) error {
	want := ranked(scores, n)
	if len(got) != len(want) {
		return fmt.Errorf("%d items, want %d: %v", len(got), len(want), want)
	}
	seen := map[string]bool{}
	for k, g := range got {
		s, ok := scores[g.Item]
		switch {
		case seen[g.Item]:
			return fmt.Errorf("#%d %s is listed twice", k, g.Item)
		case !ok:
			return fmt.Errorf("#%d %s is not a candidate", k, g.Item)
		case math.Abs(g.Score-s) > 1e-12:
			return fmt.Errorf("#%d %s scores %v, brute force %v", k, g.Item, g.Score, s)
		case math.Abs(g.Score-want[k].Score) > 1e-12:
			return fmt.Errorf("#%d %s scores %v, but the %d-th best scores %v: %v", k, g.Item, g.Score, k+1, want[k].Score, want)
		case k > 0 && g.Score > got[k-1].Score:
			return fmt.Errorf("#%d scores above #%d", k, k-1)
		}
		seen[g.Item] = true
	}
	return nil
}

// TestMovieLens runs the job on MovieLens 100K, explicit, rank 10, 3
// iterations, and checks every output against the single-process
// reference (als.Train on the same ratings) and brute force from its
// factors: the factor files are its factors (equal within 1e-9: they are
// its bits), each user's 20 best unrated items by xᵀy and each item's 20
// nearest by cosine are the lists a full sort gives, and the manifest
// names every file with the settings.
func TestMovieLens(t *testing.T) {
	var rs []als.Rating
	for _, r := range testlogs.MovieLens(t) {
		rs = append(rs, als.Rating{User: r.User, Item: r.Item, Value: r.Value})
	}
	cfg := als.Config{Rank: 10, Lambda: 0.1, Alpha: 2, Iterations: 3, Seed: 1}
	ref, err := als.Train(cfg, rs, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, append(movieLensFlags(), "--implicit=false", "--rank=10", "--lambda=0.1", "--iterations=3", "--seed=1", "--run_id=ml",
		"--output="+path("items.jsonl"), "--user_output="+path("users.jsonl"), "--item_factors_output="+path("item_factors.jsonl"),
		"--user_factors_output="+path("user_factors.jsonl"), "--popular_output="+path("popular.json"), "--beam_strict=true")...)

	for _, side := range []struct {
		file string
		ids  []string
		row  func(int) []float64
	}{{"item_factors.jsonl", ref.Items, ref.Item}, {"user_factors.jsonl", ref.Users, ref.User}} {
		got := jobtest.ReadJSONL[als.FactorRow](t, path(side.file))
		if len(got) != len(side.ids) {
			t.Fatalf("%s: %d rows, want %d", side.file, len(got), len(side.ids))
		}
		worst := 0.0
		for k, r := range got {
			if r.ID != side.ids[k] {
				t.Fatalf("%s row %d: id %s, want %s (ids ascending)", side.file, k, r.ID, side.ids[k])
			}
			for x, v := range r.Factor {
				worst = max(worst, math.Abs(v-side.row(k)[x]))
			}
		}
		if worst > 1e-9 {
			t.Errorf("%s: factors differ from als.Train's by up to %g, want <= 1e-9", side.file, worst)
		}
		t.Logf("%s: %d factors, largest difference from als.Train %g", side.file, len(got), worst)
	}

	rated := map[string]bool{}
	for _, r := range rs {
		rated[r.User+"\x00"+r.Item] = true
	}
	users := jobtest.ReadJSONL[model.UserList](t, path("users.jsonl"))
	if len(users) != len(ref.Users) {
		t.Fatalf("%d user lists, want %d", len(users), len(ref.Users))
	}
	for u, list := range users {
		scores := map[string]float64{}
		for i, item := range ref.Items {
			if !rated[list.User+"\x00"+item] {
				scores[item] = als.Dot(ref.User(u), ref.Item(i))
			}
		}
		if err := sameTop(list.Items, scores, 20); err != nil {
			t.Fatalf("user %s: %v", list.User, err)
		}
	}

	unit := make([][]float64, len(ref.Items))
	for i := range ref.Items {
		y := ref.Item(i)
		norm := math.Sqrt(als.Dot(y, y))
		for _, v := range y {
			unit[i] = append(unit[i], v/norm)
		}
	}
	items := jobtest.ReadJSONL[model.Neighbors](t, path("items.jsonl"))
	if len(items) != len(ref.Items) {
		t.Fatalf("%d neighbour lists, want %d", len(items), len(ref.Items))
	}
	for _, list := range items {
		i := sort.SearchStrings(ref.Items, list.Item)
		scores := map[string]float64{}
		for j, other := range ref.Items {
			if c := als.Dot(unit[i], unit[j]); j != i && c > 0 {
				scores[other] = c
			}
		}
		if err := sameTop(list.Neighbors, scores, 20); err != nil {
			t.Fatalf("item %s: %v", list.Item, err)
		}
	}

	b, err := os.ReadFile(path("items.jsonl") + publish.Suffix)
	if err != nil {
		t.Fatal(err)
	}
	m, err := publish.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "ml" || m.ALS == nil || *m.ALS != cfg || m.Users == nil || m.ItemFactors == nil || m.UserFactors == nil || m.Popular == nil {
		t.Errorf("manifest %s: want version ml, settings %+v and every file", b, cfg)
	}
}

// TestHeldOutRMSE runs the job as its binary with --validation_fraction
// on MovieLens 100K (explicit, rank 10, λ 0.1, 5 iterations) and checks the
// printed RMSE of every iteration against als.Train on the same split
// (the pairs whose hash of (seed, user, item) is below 0.2 held out).
func TestHeldOutRMSE(t *testing.T) {
	var train, held []als.Rating
	for _, r := range testlogs.MovieLens(t) {
		if idhash.Uniform(3, r.User, r.Item) < 0.2 {
			held = append(held, als.Rating{User: r.User, Item: r.Item, Value: r.Value})
		} else {
			train = append(train, als.Rating{User: r.User, Item: r.Item, Value: r.Value})
		}
	}
	var want []string
	_, err := als.Train(als.Config{Rank: 10, Lambda: 0.1, Iterations: 5, Seed: 3}, train, 2, func(it int, f *als.Factors) {
		rmse, n := als.RMSE(f, held)
		want = append(want, fmt.Sprintf("iteration %d: held-out RMSE %.4f over %d ratings", it, rmse, n))
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := jobtest.MustRunMain(t, runMain, append(movieLensFlags(), "--implicit=false", "--rank=10", "--lambda=0.1", "--iterations=5", "--seed=3",
		"--validation_fraction=0.2", "--output="+filepath.Join(dir, "items.jsonl"))...)
	got := regexp.MustCompile(`(?m)^iteration \d+: held-out RMSE .*$`).FindAllString(out, -1)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%s", strings.Join(got, "\n"))
}

// TestSameBytes: the same input and seed give byte-identical files
// whatever the blocking, the scoring's sharding and the input's order and
// split into files.
func TestSameBytes(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(readFile(t, fixture), "\n"), "\n")
	header, body := lines[0], lines[1:]
	split := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(body), func(a, b int) { body[a], body[b] = body[b], body[a] })
	for k := range 3 {
		part := body[k*len(body)/3 : (k+1)*len(body)/3]
		if err := os.WriteFile(filepath.Join(split, fmt.Sprintf("part%d.csv", k)), []byte(header+"\n"+strings.Join(part, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"items.jsonl", "users.jsonl", "item_factors.jsonl", "user_factors.jsonl", "popular.json", "items.jsonl" + publish.Suffix}
	var first map[string]string
	for name, args := range map[string][]string{
		"one block, one shard":             {"--input=" + fixture, "--blocks=1", "--shards=1"},
		"13 blocks, 7 shards, split input": {"--input=" + filepath.Join(split, "*.csv"), "--blocks=13", "--shards=7"},
	} {
		dir := t.TempDir()
		mustRun(t, append(args, "--rank=6", "--iterations=4", "--alpha=2", "--run_id=same", "--run_time=2026-12-01T00:00:00Z",
			"--output="+filepath.Join(dir, files[0]), "--user_output="+filepath.Join(dir, files[1]), "--item_factors_output="+filepath.Join(dir, files[2]),
			"--user_factors_output="+filepath.Join(dir, files[3]), "--popular_output="+filepath.Join(dir, files[4]))...)
		got := map[string]string{}
		for _, f := range files {
			got[f] = readFile(t, filepath.Join(dir, f))
		}
		if first == nil {
			first = got
			continue
		}
		for _, f := range files {
			if got[f] != first[f] {
				t.Errorf("%s: %s differs from the other run's", name, f)
			}
		}
	}
	if strings.Count(first["users.jsonl"], "\n") < 300 {
		t.Errorf("users.jsonl has %d lines: the fixture's users should all have lists", strings.Count(first["users.jsonl"], "\n"))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFlagErrors: settings no run can succeed with fail before anything
// runs, naming the flag.
func TestFlagErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.jsonl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rank=0"}, "--rank=0"},
		{[]string{"--lambda=-0.1"}, "--lambda=-0.1"},
		{[]string{"--alpha=-1"}, "--alpha=-1"},
		{[]string{"--iterations=0"}, "--iterations=0"},
		{[]string{"--validation_fraction=1"}, "--validation_fraction=1"},
		{[]string{"--blocks=-1"}, "--blocks=-1"},
		{[]string{"--user_top_n=0"}, "--user_top_n"},
		{[]string{"--user_output=" + out}, "are both " + out},
		{[]string{"--output="}, "--output is required"},
		{[]string{"--input="}, "--input (or --input_query) is required"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			args := append([]string{"--input=" + fixture, "--output=" + out}, c.args...)
			if _, err := runJob(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestBadRows: bad rows go to the dead letter with their reason and a
// count, and the others are factorised.
func TestBadRows(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	body := "user,productSku,type\nu1,a,3\nu1,b,1\nu2,a,2\nu2,c,3\nu3,b,2\nu3,c,1\nu4,a,9\nu5\n"
	if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, dead := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "dead.jsonl")
	res := mustRun(t, "--input="+in, "--output="+out, "--dead_letter="+dead, "--user_output="+filepath.Join(dir, "users.jsonl"),
		"--max_bad_fraction=0.3", "--rank=2", "--iterations=2")
	type letter struct{ Reason, Line string }
	letters := jobtest.ReadJSONL[letter](t, dead)
	if len(letters) != 2 || letters[0].Line != "u5" || letters[1].Line != "u4,a,9" {
		t.Errorf("dead letter %+v: want u4,a,9 (unknown action) and u5 (short row)", letters)
	}
	if n := jobtest.Counter(res, "als/ratings"); n != 6 {
		t.Errorf("als/ratings = %d, want the 6 good rows", n)
	}
	if users := jobtest.ReadJSONL[model.UserList](t, filepath.Join(dir, "users.jsonl")); len(users) != 3 {
		t.Errorf("%d user lists, want u1, u2 and u3's", len(users))
	}
}

// TestDatastore runs the job into Datastore (the in-process server and
// the real emulator) and reads the version back through simstore: its
// user lists and item factors are the files' and its settings the run's.
func TestDatastore(t *testing.T) {
	datastoretest.OnBoth(t, func(t *testing.T, addr string) {
		t.Setenv("DATASTORE_EMULATOR_HOST", addr)
		dir := t.TempDir()
		path := func(name string) string { return filepath.Join(dir, name) }
		mustRun(t, "--input="+fixture, "--rank=4", "--iterations=2", "--user_top_n=5", "--run_id=v1", "--datastore_project=p",
			"--output="+path("items.jsonl"), "--user_output="+path("users.jsonl"), "--item_factors_output="+path("factors.jsonl"),
			"--popular_output="+path("popular.json"), "--beam_strict=true")
		ctx := context.Background()
		client, err := datastore.NewClient(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		store, err := simstore.New(client, simstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := store.CurrentVersion(ctx); err != nil || v != "v1" {
			t.Fatalf("live version %q, %v; want v1", v, err)
		}
		lists, err := store.UserLists(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if want := jobtest.ReadJSONL[model.UserList](t, path("users.jsonl")); fmt.Sprint(lists) != fmt.Sprint(want) {
			t.Errorf("Datastore's user lists differ from the file's: %d and %d lists", len(lists), len(want))
		}
		cfg, rows, err := store.ItemFactors(ctx, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if want := (als.Config{Rank: 4, Lambda: 50, Implicit: true, Alpha: 2, Iterations: 2, Seed: 1}); cfg != want {
			t.Errorf("settings %+v, want %+v", cfg, want)
		}
		if want := jobtest.ReadJSONL[als.FactorRow](t, path("factors.jsonl")); fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Errorf("Datastore's item factors differ from the file's: %d and %d rows", len(rows), len(want))
		}
	})
}

// TestServing serves the job's files with the recommendation server: the
// user route answers each user's list as the job wrote it, the item route
// the job's neighbours, and a fold-in of a user's own items is answered
// (the server's fold-in math is tested in package recommend).
func TestServing(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, "--input="+fixture, "--rank=8", "--iterations=3", "--user_top_n=5", "--run_id=served",
		"--output="+path("items.jsonl"), "--user_output="+path("users.jsonl"), "--item_factors_output="+path("factors.jsonl"),
		"--popular_output="+path("popular.json"))
	base := jobtest.StartServing(t, jobtest.BuildServing(t, dir), "--similarities="+path("items.jsonl"))
	jobtest.WaitVersion(t, base, "served")
	client := http.DefaultClient
	lists := jobtest.ReadJSONL[model.UserList](t, path("users.jsonl"))
	for _, list := range lists[:20] {
		a := jobtest.Ask(client, base, "/v1/users/"+list.User+"/recommendations?n=5", "")
		var got struct {
			Items    []model.Neighbor `json:"result"`
			Fallback bool             `json:"fallback"`
		}
		if err := json.Unmarshal([]byte(a.Body), &got); err != nil || a.Status != 200 || got.Fallback {
			t.Fatalf("user %s: status %d, %s", list.User, a.Status, a.Body)
		}
		if fmt.Sprint(got.Items) != fmt.Sprint(list.Items) {
			t.Errorf("user %s: served %v, the job wrote %v", list.User, got.Items, list.Items)
		}
	}
	items := jobtest.ReadJSONL[model.Neighbors](t, path("items.jsonl"))
	a := jobtest.Ask(client, base, "/v1/similar/"+items[0].Item+"?n=3", "")
	if a.Status != 200 || !strings.Contains(a.Body, `"item":"`+items[0].Neighbors[0].Item+`"`) {
		t.Errorf("similar to %s: status %d, %s; want %s first", items[0].Item, a.Status, a.Body, items[0].Neighbors[0].Item)
	}
	a = jobtest.Ask(client, base, "/v1/recommendations", `{"model":"als","items":[{"item":"`+items[0].Item+`","action":"purchased"}],"n":5}`)
	if a.Status != 200 || strings.Count(a.Body, `"item"`) != 5 {
		t.Errorf("fold-in: status %d, %s; want 5 items", a.Status, a.Body)
	}
	if a := jobtest.Ask(client, base, "/v1/users/nobody/recommendations?n=3", ""); a.Status != 200 || !strings.Contains(a.Body, `"fallback":true`) {
		t.Errorf("unknown user: status %d, %s; want the popular fallback", a.Status, a.Body)
	}
}
