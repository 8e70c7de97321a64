package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/publish"
)

// synthALS sizes a synthetic ALS publication: what the ALS job would
// publish for a catalogue of Items items and Users users, with random
// factors in place of trained ones. Serving costs depend on the sizes and
// the rank, not on what the factors mean.
type synthALS struct {
	Items, Users, Rank, TopN int
	Implicit                 bool
	Seed                     uint64
}

// Names of the files synthALS.write puts in its directory; the manifest
// is at publish.DefaultPath of the similarities.
const (
	synthSimilaritiesFile = "similarities.jsonl"
	synthPopularFile      = "popular.json"
	synthUsersFile        = "users.jsonl"
	synthFactorsFile      = "item_factors.jsonl"
)

// write writes the publication into dir: item factors and user factors
// drawn from N(0, 1/rank) (seeded), each item's TopN neighbours by the
// cosine of item factors (positive ones only, as similarities are), each
// user's TopN items by predicted score, a popular list of the first 100
// items with falling counts, and the manifest naming the files with the
// settings (rank, λ 0.1, α 10 when implicit). It returns the similarities
// file's path.
func (c synthALS) write(dir string) (string, error) {
	if c.Items < 2 || c.Users < 1 || c.Rank < 1 || c.TopN < 1 {
		return "", fmt.Errorf("--synth_items (>= 2), --synth_users, --synth_rank and --synth_top_n must be positive")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5eed))
	draw := func(n int) []float64 {
		f := make([]float64, n*c.Rank)
		for k := range f {
			f[k] = rng.NormFloat64() / math.Sqrt(float64(c.Rank))
		}
		return f
	}
	ys := draw(c.Items)
	row := func(f []float64, k int) []float64 { return f[k*c.Rank : (k+1)*c.Rank] }
	ids := make([]string, c.Items)
	for k := range ids {
		ids[k] = strconv.Itoa(1 + k)
	}
	norms := make([]float64, c.Items)
	for k := range norms {
		norms[k] = math.Sqrt(als.Dot(row(ys, k), row(ys, k)))
	}
	// top keeps the TopN best of scored items (id k), skipping skip.
	top := func(score func(k int) float64, skip int) []model.Neighbor {
		var best []model.Neighbor
		for k := range c.Items {
			if k == skip {
				continue
			}
			best = model.Insert(best, model.Neighbor{Item: ids[k], Score: score(k)}, c.TopN)
		}
		return best
	}

	sims := filepath.Join(dir, synthSimilaritiesFile)
	manifest := publish.DefaultPath(sims)
	files := map[string]*publish.File{}
	write := func(name string, each func(enc *json.Encoder) error) error {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		d := publish.NewDigest()
		w := bufio.NewWriter(f)
		if err := each(json.NewEncoder(io.MultiWriter(w, d))); err != nil {
			f.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		desc := d.File(publish.Rel(manifest, path))
		files[name] = &desc
		return nil
	}
	err := write(synthFactorsFile, func(enc *json.Encoder) error {
		for k, id := range ids {
			if err := enc.Encode(als.FactorRow{ID: id, Factor: row(ys, k)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = write(synthSimilaritiesFile, func(enc *json.Encoder) error {
			for i, id := range ids {
				nbrs := top(func(j int) float64 { return als.Dot(row(ys, i), row(ys, j)) / (norms[i] * norms[j]) }, i)
				for len(nbrs) > 0 && !(nbrs[len(nbrs)-1].Score > 0) {
					nbrs = nbrs[:len(nbrs)-1]
				}
				for k := range nbrs { // a cosine may round past 1
					nbrs[k].Score = min(nbrs[k].Score, 1)
				}
				if err := enc.Encode(model.Neighbors{Item: id, Neighbors: nbrs}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = write(synthUsersFile, func(enc *json.Encoder) error {
			for u := range c.Users {
				x := draw(1)
				list := model.UserList{User: "u" + strconv.Itoa(1+u), Items: top(func(k int) float64 { return als.Dot(x, row(ys, k)) }, -1)}
				if err := enc.Encode(list); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err == nil {
		err = write(synthPopularFile, func(enc *json.Encoder) error {
			var doc struct {
				Items []model.PopularItem `json:"items"`
			}
			for k := range min(100, c.Items) {
				doc.Items = append(doc.Items, model.PopularItem{Item: ids[k], Users: int64(10000 / (k + 1))})
			}
			return enc.Encode(doc)
		})
	}
	if err != nil {
		return "", err
	}
	cfg := als.Config{Rank: c.Rank, Lambda: 0.1, Implicit: c.Implicit, Iterations: 10, Seed: c.Seed}
	if c.Implicit {
		cfg.Alpha = 10
	}
	m := publish.Manifest{Version: fmt.Sprintf("synth-als-%d-items-rank-%d", c.Items, c.Rank),
		Similarities: *files[synthSimilaritiesFile], Popular: files[synthPopularFile], Users: files[synthUsersFile],
		ItemFactors: files[synthFactorsFile], ALS: &cfg}
	b, err := m.Marshal()
	if err != nil {
		return "", err
	}
	// Written last, as the jobs do.
	return sims, os.WriteFile(manifest, append(b, '\n'), 0o644)
}
