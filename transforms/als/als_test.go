package als

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/internal/testlogs"
	"github.com/recsys/itemsim/model"
	als "github.com/recsys/itemsim/model/als"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// randomRatings is a seeded sparse matrix: each of users users rates 3 to
// 20 of items items, scores 0.5, 2 or 6 (the default action weights).
func randomRatings(seed uint64, users, items int) []als.Rating {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	weights := []float64{0.5, 2, 6}
	var rs []als.Rating
	for u := range users {
		for _, i := range rng.Perm(items)[:3+rng.IntN(18)] {
			rs = append(rs, als.Rating{User: fmt.Sprintf("u%03d", u), Item: fmt.Sprintf("i%03d", i), Value: weights[rng.IntN(3)]})
		}
	}
	return rs
}

// rowsOf groups ratings into the users' rows the job factorises, items in
// reverse order (blocks must not depend on it).
func rowsOf(rs []als.Rating) []model.Row {
	byUser := map[string]*model.Row{}
	var users []string
	for _, r := range rs {
		row := byUser[r.User]
		if row == nil {
			row = &model.Row{User: r.User}
			byUser[r.User] = row
			users = append(users, r.User)
		}
		row.Items = slices.Insert(row.Items, 0, r.Item)
		row.Scores = slices.Insert(row.Scores, 0, r.Value)
	}
	rows := make([]model.Row, len(users))
	for k, u := range users {
		rows[k] = *byUser[u]
	}
	return rows
}

// lines renders factors as "side id bits..." with every float's exact bits:
// equal lines are equal factors.
func lines(side string, ids []string, xs []float64, rank int) []string {
	out := make([]string, len(ids))
	for k, id := range ids {
		out[k] = factorLine(side, als.FactorRow{ID: id, Factor: xs[k*rank : (k+1)*rank]})
	}
	return out
}

func factorLine(side string, r als.FactorRow) string {
	b := []byte(side + " " + r.ID)
	for _, v := range r.Factor {
		b = append(b, ' ')
		b = strconv.AppendUint(b, math.Float64bits(v), 16)
	}
	return string(b)
}

func userLine(r als.FactorRow) string { return factorLine("user", r) }

// listLine renders a ranked list with its scores to 12 significant
// digits: the job scores with BLAS (als.Scores), the brute force with a
// plain loop, whose sums may differ in the last bits.
func listLine(id string, list []model.Neighbor) string {
	b := []byte(id)
	for _, n := range list {
		b = fmt.Appendf(b, " %s:%.12g", n.Item, n.Score)
	}
	return string(b)
}

func userListLine(l model.UserList) string   { return listLine(l.User, l.Items) }
func neighborsLine(n model.Neighbors) string { return listLine(n.Item, n.Neighbors) }
func itemLine(r als.FactorRow) string        { return factorLine("item", r) }

func init() {
	beam.RegisterFunction(userLine)
	beam.RegisterFunction(itemLine)
	beam.RegisterFunction(userListLine)
	beam.RegisterFunction(neighborsLine)
}

// factorize runs Factorize over rows and asserts that the factors are
// want's, bit for bit.
func factorize(t *testing.T, rows []model.Row, c Config, want *als.Factors) beam.PipelineResult {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	f := Factorize(s, beam.CreateList(s, rows), c)
	passert.Equals(s, beam.ParDo(s, userLine, FactorRows(s, f.Users)), toAny(lines("user", want.Users, want.UserFactors, want.Rank))...)
	passert.Equals(s, beam.ParDo(s, itemLine, FactorRows(s, f.Items)), toAny(lines("item", want.Items, want.ItemFactors, want.Rank))...)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("%+v: %v", c, err)
	}
	return res
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for k, s := range ss {
		out[k] = s
	}
	return out
}

// TestFactorizeIsTheReference: the blocked pipeline's factors are the
// single-process reference's (als.Train), bit for bit, in both modes and
// for any number of blocks (one block, a prime, more blocks than some
// sides fill).
func TestFactorizeIsTheReference(t *testing.T) {
	rs := randomRatings(7, 120, 60)
	rows := rowsOf(rs)
	for _, implicit := range []bool{false, true} {
		cfg := als.Config{Rank: 4, Lambda: 0.1, Implicit: implicit, Alpha: 2, Iterations: 3, Seed: 5}
		want, err := als.Train(cfg, rs, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, blocks := range []int{1, 7, 40} {
			factorize(t, rows, Config{Config: cfg, Blocks: blocks}, want)
		}
	}
}

// TestMovieLens: on MovieLens 100K (rank 10, 3 iterations, 16 blocks) the
// pipeline's factors equal als.Train's within 1e-9 (they are its bits),
// explicit (ratings) and implicit (ratings as confidences, α = 1).
func TestMovieLens(t *testing.T) {
	var rs []als.Rating
	for _, r := range testlogs.MovieLens(t) {
		rs = append(rs, als.Rating{User: r.User, Item: r.Item, Value: r.Value})
	}
	rows := rowsOf(rs)
	for _, implicit := range []bool{false, true} {
		cfg := als.Config{Rank: 10, Lambda: 0.1, Implicit: implicit, Alpha: 1, Iterations: 3, Seed: 1}
		want, err := als.Train(cfg, rs, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		factorize(t, rows, Config{Config: cfg}, want)
	}
}

// TestHeldOutRMSE: with --validation_fraction the RMSE gauge of each
// iteration is als.RMSE of the reference trained on the other ratings,
// over the held-out ratings whose user and item it knows.
func TestHeldOutRMSE(t *testing.T) {
	rs := randomRatings(3, 150, 40)
	const seed, fraction = 9, 0.25
	var train, held []als.Rating
	for _, r := range rs {
		if idhash.Uniform(seed, r.User, r.Item) < fraction {
			held = append(held, r)
		} else {
			train = append(train, r)
		}
	}
	cfg := als.Config{Rank: 3, Lambda: 0.05, Iterations: 4, Seed: seed}
	var want []float64
	var wantN int
	ref, err := als.Train(cfg, train, 1, func(_ int, f *als.Factors) {
		rmse, n := als.RMSE(f, held)
		want, wantN = append(want, rmse), n
	})
	if err != nil {
		t.Fatal(err)
	}
	if wantN == 0 || wantN == len(held) {
		t.Fatalf("%d of %d held-out ratings predictable: the test needs some of each", wantN, len(held))
	}
	res := factorize(t, rowsOf(rs), Config{Config: cfg, Blocks: 5, ValidationFraction: fraction}, ref)
	got := map[string]int64{}
	for _, g := range res.Metrics().AllMetrics().Gauges() {
		got[g.Key.Namespace+"/"+g.Key.Name] = g.Result().Value
	}
	for it, w := range want {
		name := fmt.Sprintf(RMSEGauge, it+1)
		bits, ok := got[name]
		if !ok {
			t.Fatalf("no gauge %s among %v", name, got)
		}
		if rmse := math.Float64frombits(uint64(bits)); math.Abs(rmse-w) > 1e-12 {
			t.Errorf("iteration %d: RMSE %v, want %v", it+1, rmse, w)
		}
	}
	if got[ValidationGauge] != int64(wantN) {
		t.Errorf("%s = %d, want %d", ValidationGauge, got[ValidationGauge], wantN)
	}
}

// TestUserListsAndNeighbors ranks by brute force from the reference's
// factors: every user's n best unrated items by xᵀy, and every item's n
// most cosine-similar items, each sorted with sort.Slice on (score desc,
// id asc).
func TestUserListsAndNeighbors(t *testing.T) {
	rs := randomRatings(11, 80, 30)
	cfg := als.Config{Rank: 5, Lambda: 0.1, Implicit: true, Alpha: 3, Iterations: 2, Seed: 2}
	ref, err := als.Train(cfg, rs, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	rated := map[string]bool{}
	for _, r := range rs {
		rated[r.User+"\x00"+r.Item] = true
	}
	best := func(scores map[string]float64) []model.Neighbor {
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
	var wantUsers, wantItems []any
	for u, user := range ref.Users {
		scores := map[string]float64{}
		for i, item := range ref.Items {
			if !rated[user+"\x00"+item] {
				scores[item] = als.Dot(ref.User(u), ref.Item(i))
			}
		}
		wantUsers = append(wantUsers, listLine(user, best(scores)))
	}
	norm := func(x []float64) float64 { return math.Sqrt(als.Dot(x, x)) }
	for i, item := range ref.Items {
		scores := map[string]float64{}
		for j, other := range ref.Items {
			c := 0.0
			for k := range cfg.Rank {
				c += ref.Item(i)[k] / norm(ref.Item(i)) * (ref.Item(j)[k] / norm(ref.Item(j)))
			}
			if j != i && c > 0 {
				scores[other] = c
			}
		}
		wantItems = append(wantItems, listLine(item, best(scores)))
	}
	p, s := beam.NewPipelineWithRoot()
	f := Factorize(s, beam.CreateList(s, rowsOf(rs)), Config{Config: cfg, Blocks: 3})
	passert.Equals(s, beam.ParDo(s, userListLine, UserLists(s, f, n)), wantUsers...)
	passert.Equals(s, beam.ParDo(s, neighborsLine, ItemNeighbors(s, f, n, 0)), wantItems...)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

// TestRefusals: a pair rated twice fails the job with a message saying to
// aggregate first, as als.Train does; an implicit score of zero fails
// naming the user and item; with λ = 0, two items at rank 3 leave YᵀY
// singular, and the run fails before solving, saying what to change.
func TestRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		rows   []model.Row
		lambda float64
	}{
		"rated together twice":    {[]model.Row{{User: "u", Items: []string{"a", "a"}, Scores: []float64{1, 2}}}, 0.1},
		`of user "u" on item "b"`: {[]model.Row{{User: "u", Items: []string{"a", "b"}, Scores: []float64{1, 0}}}, 0.1},
		"YᵀY of the 2 items with a factor is singular at --rank=3 with --lambda=0: lower --rank to at most 2": {
			[]model.Row{{User: "u", Items: []string{"a", "b"}, Scores: []float64{1, 2}}, {User: "v", Items: []string{"b"}, Scores: []float64{1}}}, 0},
	} {
		rows := c.rows
		p, s := beam.NewPipelineWithRoot()
		f := Factorize(s, beam.CreateList(s, rows), Config{Config: als.Config{Rank: 3, Lambda: c.lambda, Implicit: true, Alpha: 1, Iterations: 1}})
		FactorRows(s, f.Items)
		err := ptest.Run(p)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("rows %v: error %v, want one mentioning %q", rows, err, name)
		}
	}
}
