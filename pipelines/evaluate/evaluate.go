package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/recommend"
)

// Report is the outcome of an evaluation.
type Report struct {
	Config Config `json:"config"`
	// Users is the number of users; TestUsers of them have a test item.
	Users     int `json:"users"`
	TestUsers int `json:"test_users"`
	// TrainPairs and TestPairs count distinct (user, item) pairs.
	TrainPairs int `json:"train_pairs"`
	TestPairs  int `json:"test_pairs"`
	// CatalogueItems are the distinct items in training; ModelItems of
	// them have a neighbour list.
	CatalogueItems int `json:"catalogue_items"`
	ModelItems     int `json:"model_items"`
	K              int `json:"k"`
	// Model is the item-similarity recommender (item-kNN); Popular the
	// most-popular baseline (the fallback alone); ALS implicit ALS when
	// --models lists it (its fallback users had no training row): all on
	// the same split.
	Model   Metrics  `json:"model"`
	Popular Metrics  `json:"popular"`
	ALS     *Metrics `json:"als,omitempty"`
}

// evaluate scores every user with a test item from the pipeline's outputs,
// in user order, so the sums and the report are the same on every run;
// with ALS in c.Models, it trains ALS on the training rows first.
func evaluate(c Config) (Report, error) {
	o, err := load(c)
	if err != nil {
		return Report{}, err
	}
	if c.wants(ModelALS) {
		if o.factors, err = trainALS(c.ALS, o.rowList, nil); err != nil {
			return Report{}, fmt.Errorf("als: %v", err)
		}
	}
	return o.measure(c), nil
}

// outputs are the pipeline's outputs, loaded once to be measured under
// several scoring options (the sweep).
type outputs struct {
	sim, baseline *recommend.Model
	rowList       []model.Row // as read
	rows          map[string]model.Row
	splits        []Split // by user
	// factors, when set, are ALS's, measured beside the others.
	factors *als.Factors
}

// load reads the pipeline's outputs in c's work directory.
func load(c Config) (*outputs, error) {
	f := c.files()
	lists, err := recommend.ReadNeighborsFile(f.Similarities)
	if err != nil {
		return nil, err
	}
	pop, err := recommend.ReadPopularFile(f.Popular)
	if err != nil {
		return nil, err
	}
	sim, err := recommend.BuildWithBound(lists, pop, "train", recommend.ScoreBound(c.DIMSUM.Similarity))
	if err != nil {
		return nil, err
	}
	baseline, err := recommend.Build(nil, pop, "popular")
	if err != nil {
		return nil, err
	}
	rowList, err := readJSONL[model.Row](f.Train)
	if err != nil {
		return nil, err
	}
	rows := make(map[string]model.Row, len(rowList))
	for _, r := range rowList {
		rows[r.User] = r
	}
	splits, err := readJSONL[Split](f.Splits)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(splits, func(a, b Split) int { return cmp.Compare(a.User, b.User) })
	return &outputs{sim: sim, baseline: baseline, rowList: rowList, rows: rows, splits: splits}, nil
}

// measure scores every user with a test item under c's scoring options
// (K, Neighbors, Normalize), and with o.factors when set: ALS ranks every
// item it knows less the user's training items, and a user without a
// training row (so without a factor) gets the popular list, as item-kNN's
// fallback does.
func (o *outputs) measure(c Config) Report {
	rep := Report{Config: c, Users: len(o.splits), K: c.K, ModelItems: o.sim.Items()}
	catalogue := map[string]bool{}
	for _, sp := range o.splits {
		rep.TrainPairs += len(sp.Train)
		rep.TestPairs += len(sp.Test)
		for _, it := range sp.Train {
			catalogue[it] = true
		}
	}
	rep.CatalogueItems = len(catalogue)
	var mAcc, pAcc, aAcc accumulator
	for _, sp := range o.splits {
		if len(sp.Test) == 0 {
			continue
		}
		rep.TestUsers++
		rel := make(map[string]bool, len(sp.Test))
		for _, it := range sp.Test {
			rel[it] = true
		}
		row := o.rows[sp.User]
		// Training items the row lacks (capped, or scored 0) are seen too.
		var extra []string
		for _, it := range sp.Train {
			if _, found := slices.BinarySearch(row.Items, it); !found {
				extra = append(extra, it)
			}
		}
		ro := recommend.Options{N: c.K + len(extra), Neighbors: c.Neighbors, Normalize: c.Normalize}
		mAcc.add(o.sim.Recommend(row.Items, row.Scores, ro), extra, rel, c.K)
		popular := o.baseline.Recommend(row.Items, row.Scores, ro)
		pAcc.add(popular, extra, rel, c.K)
		if o.factors == nil {
			continue
		}
		if u, found := slices.BinarySearch(o.factors.Users, sp.User); found {
			aAcc.addList(topItems(o.factors, u, sp.Train, c.K), false, rel, c.K)
		} else {
			aAcc.add(popular, extra, rel, c.K)
		}
	}
	rep.Model, rep.Popular = mAcc.metrics(rep.CatalogueItems), pAcc.metrics(rep.CatalogueItems)
	if o.factors != nil {
		m := aAcc.metrics(rep.CatalogueItems)
		rep.ALS = &m
	}
	return rep
}

// accumulator sums per-user metrics in a fixed (user) order.
type accumulator struct {
	p, r, ndcg, ap  float64
	users, fallback int
	recommended     map[string]bool
}

// add scores one user's list, less the seen items in extra.
func (a *accumulator) add(res recommend.Result, extra []string, rel map[string]bool, k int) {
	recs := make([]string, 0, k)
	for _, s := range res.Items {
		if len(recs) == k {
			break
		}
		if !slices.Contains(extra, s.Item) {
			recs = append(recs, s.Item)
		}
	}
	a.addList(recs, res.Fallback, rel, k)
}

// addList scores one user's list of recommended items, best first.
func (a *accumulator) addList(recs []string, fallback bool, rel map[string]bool, k int) {
	p, r, n, ap := UserMetrics(recs, rel, k)
	a.p, a.r, a.ndcg, a.ap = a.p+p, a.r+r, a.ndcg+n, a.ap+ap
	a.users++
	if fallback {
		a.fallback++
	}
	if a.recommended == nil {
		a.recommended = map[string]bool{}
	}
	for _, it := range recs {
		a.recommended[it] = true
	}
}

func (a *accumulator) metrics(catalogue int) Metrics {
	if a.users == 0 {
		return Metrics{}
	}
	n := float64(a.users)
	m := Metrics{Precision: a.p / n, Recall: a.r / n, NDCG: a.ndcg / n, MAP: a.ap / n, Users: a.users, FallbackUsers: a.fallback}
	if catalogue > 0 {
		m.Coverage = float64(len(a.recommended)) / float64(catalogue)
	}
	return m
}

// readJSONL reads one JSON value per non-empty line.
func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var out []T
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %v", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

// printReport prints the metrics of the models c.Models lists side by
// side, in its order, and ALS's settings when it is listed.
func printReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "users %d (with a test item: %d), train pairs %d, test pairs %d, catalogue %d items (%d with neighbours)\n",
		r.Users, r.TestUsers, r.TrainPairs, r.TestPairs, r.CatalogueItems, r.ModelItems)
	if a := r.Config.ALS; r.ALS != nil {
		fmt.Fprintf(w, "als: implicit, rank %d, lambda %g, alpha %g, %d iterations, seed %d\n", a.Rank, a.Lambda, a.Alpha, a.Iterations, a.Seed)
	}
	var cols []Metrics
	fmt.Fprintf(w, "%-14s", "metric")
	for _, name := range r.Config.Models {
		switch {
		case name == ModelItemKNN:
			cols = append(cols, r.Model)
		case name == ModelPopular:
			cols = append(cols, r.Popular)
		case name == ModelALS && r.ALS != nil:
			cols = append(cols, *r.ALS)
		default:
			continue
		}
		fmt.Fprintf(w, " %10s", name)
	}
	fmt.Fprintln(w)
	f := func(v float64) string { return fmt.Sprintf("%.4f", v) }
	for _, row := range []struct {
		name  string
		value func(Metrics) string
	}{
		{fmt.Sprintf("precision@%d", r.K), func(m Metrics) string { return f(m.Precision) }},
		{fmt.Sprintf("recall@%d", r.K), func(m Metrics) string { return f(m.Recall) }},
		{fmt.Sprintf("ndcg@%d", r.K), func(m Metrics) string { return f(m.NDCG) }},
		{fmt.Sprintf("map@%d", r.K), func(m Metrics) string { return f(m.MAP) }},
		{"coverage", func(m Metrics) string { return f(m.Coverage) }},
		{"fallback users", func(m Metrics) string { return fmt.Sprint(m.FallbackUsers) }},
	} {
		fmt.Fprintf(w, "%-14s", row.name)
		for _, m := range cols {
			fmt.Fprintf(w, " %10s", row.value(m))
		}
		fmt.Fprintln(w)
	}
}
