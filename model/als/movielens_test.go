package als

import (
	"testing"

	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/internal/testlogs"
)

// movieLens reads MovieLens 100K's u.data, or skips the test without it.
func movieLens(t *testing.T) []Rating {
	var rs []Rating
	for _, r := range testlogs.MovieLens(t) {
		rs = append(rs, Rating{User: r.User, Item: r.Item, Value: r.Value})
	}
	return rs
}

// TestMovieLensRMSE: explicit ALS-WR on MovieLens 100K, 80% of the
// ratings to train (a hash of the pair, seed 1) and 20% held out. The
// held-out RMSE after 10 iterations at rank 10, λ = 0.1 must be at most
// 0.95; Surprise's SVD reaches 0.934 (5-fold).
func TestMovieLensRMSE(t *testing.T) {
	all := movieLens(t)
	var train, test []Rating
	for _, r := range all {
		if idhash.Uniform(1, r.User, r.Item) < 0.8 {
			train = append(train, r)
		} else {
			test = append(test, r)
		}
	}
	var last float64
	_, err := Train(Config{Rank: 10, Lambda: 0.1, Iterations: 10, Seed: 1}, train, 2, func(it int, f *Factors) {
		rmse, n := RMSE(f, test)
		t.Logf("iteration %d: held-out RMSE %.4f over %d ratings", it, rmse, n)
		last = rmse
	})
	if err != nil {
		t.Fatal(err)
	}
	if last > 0.95 {
		t.Errorf("held-out RMSE %.4f, want <= 0.95", last)
	}
}
