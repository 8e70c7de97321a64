package main

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// The models --models names, in the table's default order.
const (
	ModelItemKNN = "itemknn" // the similarity pipeline's lists, scored by package recommend
	ModelALS     = "als"     // implicit ALS (package model/als), every item ranked by x_uᵀy_i
	ModelPopular = "popular" // the most-popular baseline
)

// DefaultALS is the implicit ALS evaluate trains unless told otherwise,
// tuned on MovieLens 100K under the evaluate protocol (ratings as scores,
// random split, seed 42; docs/evaluate/als.md): nDCG@10 0.4793. Rank 128
// adds 0.002 at four times the cost.
var DefaultALS = als.Config{Implicit: true, Rank: 64, Lambda: 50, Alpha: 2, Iterations: 10, Seed: 1}

var (
	models = flag.String("models", strings.Join([]string{ModelItemKNN, ModelALS, ModelPopular}, ","),
		"The table's models, comma-separated, of itemknn, als (implicit ALS, trained only when listed) and popular; the JSON report always has itemknn (\"model\") and popular, which the pipeline builds on every run.")

	// The ALS job's --rank, --lambda, --alpha, --iterations and --seed,
	// prefixed: --seed is the split's here.
	alsRank       = flag.Int("als_rank", DefaultALS.Rank, "Implicit ALS: latent factors.")
	alsLambda     = flag.Float64("als_lambda", DefaultALS.Lambda, "Implicit ALS: regularisation λ (not scaled by the rating count).")
	alsAlpha      = flag.Float64("als_alpha", DefaultALS.Alpha, "Implicit ALS: confidence slope α, c = 1 + α·score.")
	alsIterations = flag.Int("als_iterations", DefaultALS.Iterations, "ALS iterations (users, then items), for --models=als and, unless its grid says, --als_rmse_sweep.")
	alsSeed       = flag.Uint64("als_seed", DefaultALS.Seed, "Seed of ALS's initial factors.")
)

// parseModels reads --models: known names, each once, at least one.
func parseModels(s string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name != ModelItemKNN && name != ModelALS && name != ModelPopular:
			return nil, fmt.Errorf("--models: unknown model %q (want itemknn, als, popular)", name)
		case slices.Contains(out, name):
			return nil, fmt.Errorf("--models: %s listed twice", name)
		}
		out = append(out, name)
	}
	return out, nil
}

// alsFromFlags is the implicit ALS of the flags, validated.
func alsFromFlags() (als.Config, error) {
	c := als.Config{Implicit: true, Rank: *alsRank, Lambda: *alsLambda, Alpha: *alsAlpha, Iterations: *alsIterations, Seed: *alsSeed}
	if err := c.Validate(); err != nil {
		// The ALS job's flag names, as evaluate spells them.
		return c, errors.New(strings.ReplaceAll(err.Error(), "--", "--als_"))
	}
	return c, nil
}

// wants reports whether the table lists model.
func (c Config) wants(model string) bool { return slices.Contains(c.Models, model) }

// ratings are the training rows as ALS's ratings: each (user, item) once,
// scored by the scoring rules (always > 0: scoring.PerUser drops the
// rest), in user order.
func ratings(rows []model.Row) []als.Rating {
	var out []als.Rating
	for _, r := range rows {
		for k, it := range r.Items {
			out = append(out, als.Rating{User: r.User, Item: it, Value: r.Scores[k]})
		}
	}
	return out
}

// trainALS factorises the training rows with cfg on every core. Train is
// the single-process reference of the ALS job (pipelines/als), whose
// factors are tested to equal it within 1e-9; evaluate calls it in process
// because it is the same model and many times faster to sweep.
func trainALS(cfg als.Config, rows []model.Row, each func(int, *als.Factors)) (*als.Factors, error) {
	return als.Train(cfg, ratings(rows), runtime.NumCPU(), each)
}

// topItems is user k's n best items of f by x_uᵀy_i, less seen (sorted
// ids), ranked as the ALS job ranks its user lists (als.Ranker: the
// project's top-N order, model.Order).
func topItems(f *als.Factors, k int, seen []string, n int) []string {
	best := als.NewRanker(f.ItemFactors, f.Rank).Top(f.User(k), als.Seen(f.Items, seen), n)
	out := make([]string, len(best))
	for j, c := range best {
		out[j] = f.Items[c.ID]
	}
	return out
}
