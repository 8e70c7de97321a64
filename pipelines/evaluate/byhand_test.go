package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/recsys/itemsim/model"
)

// handFixture is small enough to evaluate by hand: six users, six catalogue
// items a-f and one test-only item g. Columns: user, item, score, time.
// Scores are used as is (--score_field, so no clip) and summed per (user,
// item): u1's two a events score 2, as do u4's two d events.
//
// The split is --split=time with the default --test_fraction=0.25: a user
// with n distinct items keeps round_half_even(0.75·n) of them, those first
// seen earliest, and holds out the rest.
//
//	user  first seen (time)             n  train            test
//	u1    a1 b2 c3 f5 (a again at 9)    4  a2 b1 c1         f     3 = round(3)
//	u2    a1 b2 d3 e4                   4  a1 b2 d1         e
//	u3    b1 c2 d3                      3  b1 c2            d     2 = round(2.25)
//	u4    a1 c2 d3 e4 f5 b6 g7 (d at 8) 7  a1 c1 d2 e1 f1   b g   5 = round(5.25)
//	u5    e1 f2 d3                      3  e2 f1            d
//	u6    a1 f2                         2  a1 f1            -     2 = round(1.5)
//
// (train: item and summed score). u6 has no test item, so it is trained on
// but not measured: 6 users, 5 with a test item, 17 training pairs, 6 test
// pairs, a catalogue of 6 items (g is never trained on).
const handFixture = `user,item,score,time
u1,a,1,1
u1,b,1,2
u1,c,1,3
u1,f,1,5
u1,a,1,9
u2,a,1,1
u2,b,2,2
u2,d,1,3
u2,e,1,4
u3,b,1,1
u3,c,2,2
u3,d,1,3
u4,a,1,1
u4,c,1,2
u4,d,1,3
u4,e,1,4
u4,f,1,5
u4,b,1,6
u4,g,1,7
u4,d,1,8
u5,e,2,1
u5,f,1,2
u5,d,1,3
u6,a,1,1
u6,f,1,2
`

// handCosines are the exact cosines of the training matrix
//
//	     a  b  c  d  e  f
//	u1   2  1  1  .  .  .
//	u2   1  2  .  1  .  .
//	u3   .  1  2  .  .  .
//	u4   1  .  1  2  1  1
//	u5   .  .  .  .  2  1
//	u6   1  .  .  .  .  1
//
// squared norms: a 4+1+1+1 = 7, b 1+4+1 = 6, c 1+4+1 = 6, d 1+4 = 5,
// e 1+4 = 5, f 1+1+1 = 3; dot products (users in brackets):
// ab 2+2 = 4 [u1 u2], ac 2+1 = 3 [u1 u4], ad 1+2 = 3 [u2 u4], ae 1 [u4],
// af 1+1 = 2 [u4 u6], bc 1+2 = 3 [u1 u3], bd 2 [u2], cd 2 [u4], ce 1 [u4],
// cf 1 [u4], de 2 [u4], df 2 [u4], ef 1+2 = 3 [u4 u5]; be, bf: none.
func handCosines() map[[2]string]float64 {
	c := map[[2]string]float64{
		{"a", "b"}: 4 / math.Sqrt(7*6), // 0.6172
		{"a", "c"}: 3 / math.Sqrt(7*6), // 0.4629
		{"a", "d"}: 3 / math.Sqrt(7*5), // 0.5071
		{"a", "e"}: 1 / math.Sqrt(7*5), // 0.1690
		{"a", "f"}: 2 / math.Sqrt(7*3), // 0.4364
		{"b", "c"}: 3 / math.Sqrt(6*6), // 0.5
		{"b", "d"}: 2 / math.Sqrt(6*5), // 0.3651
		{"c", "d"}: 2 / math.Sqrt(6*5), // 0.3651
		{"c", "e"}: 1 / math.Sqrt(6*5), // 0.1826
		{"c", "f"}: 1 / math.Sqrt(6*3), // 0.2357
		{"d", "e"}: 2 / math.Sqrt(5*5), // 0.4
		{"d", "f"}: 2 / math.Sqrt(5*3), // 0.5164
		{"e", "f"}: 3 / math.Sqrt(5*3), // 0.7746
	}
	for p, v := range c {
		c[[2]string{p[1], p[0]}] = v
	}
	return c
}

// TestEvaluateByHand runs the whole evaluation on handFixture and compares
// the split, the similarities and every metric of the model and of the
// popularity baseline with the hand computation below, at k = 2 and, from
// the same pipeline outputs, at k = 1.
//
// Each user's candidates are the catalogue items not in their training
// set, scored r̂(i) = Σ_j w_j·cos(j, i) over their training items j (an
// item no training item is similar to does not score):
//
//	u1 (a2 b1 c1): d = 2·.5071+.3651+.3651 = 1.7445, f = 2·.4364+.2357 = 1.1086, e = 2·.1690+.1826 = .5206
//	u2 (a1 b2 d1): c = .4629+2·.5+.3651 = 1.8281, f = .4364+.5164 = .9528, e = .1690+.4 = .5690
//	u3 (b1 c2):    a = .6172+2·.4629 = 1.5430, d = .3651+2·.3651 = 1.0954, f = 2·.2357 = .4714, e = 2·.1826 = .3651
//	u4 (a c d e f): b = .6172+.5+2·.3651 = 1.8475 (the only candidate; g is not in the catalogue)
//	u5 (e2 f1):    d = 2·.4+.5164 = 1.3164, a = 2·.1690+.4364 = .7745, c = 2·.1826+.2357 = .6009; b does not score
//
// Popularity (training users per item): a 4; b, c, f 3; d, e 2; ties by
// id: a b c f d e. The baseline is that order less the user's training items.
//
//	user  test  model top 2  hits       popular top 2  hits
//	u1    f     d f          f at 2     f d            f at 1
//	u2    e     c f          -          c f            -
//	u3    d     a d          d at 2     a f            -
//	u4    b g   b            b at 1     b              b at 1
//	u5    d     d a          d at 1     a b            -
//
// Per user at k = 2 (precision = hits/k, recall = hits/|test|, nDCG = DCG/IDCG
// with DCG = Σ_hits 1/log2(rank+1) and IDCG over min(|test|, k) ranks,
// AP = Σ_hits precision@rank / |test|), with L = log2(3):
//
//	model    u1: 1/2, 1, (1/L)/1,  (1/2)/1      popular  u1: 1/2, 1, 1/1, (1/1)/1
//	         u2: 0, 0, 0, 0                              u2: 0, 0, 0, 0
//	         u3: 1/2, 1, (1/L)/1,  (1/2)/1               u3: 0, 0, 0, 0
//	         u4: 1/2, 1/2, 1/(1+1/L), (1/1)/2            u4: 1/2, 1/2, 1/(1+1/L), (1/1)/2
//	         u5: 1/2, 1, 1/1, (1/1)/1                    u5: 0, 0, 0, 0
//
// u4's list is short (one candidate) and still divides by k. Averaged over
// the 5 users: model precision 2/5, recall 3.5/5, nDCG (2/L+1/(1+1/L)+1)/5,
// MAP 2.5/5; popular 1/5, 1.5/5, (1+1/(1+1/L))/5, 1.5/5. Coverage: the model
// recommends {d f c a b}, the baseline {f d c a b}: 5 of the 6 catalogue
// items each (e never makes a top 2; u6 would add it, were it measured).
//
// At k = 1 only the first item counts, and IDCG has one term even for u4's
// two test items, while AP still divides by |test| = 2:
//
//	model    d c a b d: hits u4 (1, 1/2, 1, 1/2), u5 (1, 1, 1, 1)
//	popular  f c a b a: hits u1 (1, 1, 1, 1),     u4 (1, 1/2, 1, 1/2)
//
// both: precision 2/5, recall 1.5/5, nDCG 2/5, MAP 1.5/5, coverage 4/6.
func TestEvaluateByHand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "events.csv")
	if err := os.WriteFile(in, []byte(handFixture), 0o644); err != nil {
		t.Fatal(err)
	}
	setFlags(t, "--input="+in, "--item_field=item", "--score_field=score", "--time_field=time", "--split=time", "--k=2")
	c, err := configFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	c.WorkDir = dir
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}

	splits, err := readJSONL[Split](c.files().Splits)
	if err != nil {
		t.Fatal(err)
	}
	gotSplits := map[string]Split{}
	for _, sp := range splits {
		gotSplits[sp.User] = sp
	}
	wantSplits := map[string]Split{
		"u1": {"u1", []string{"a", "b", "c"}, []string{"f"}},
		"u2": {"u2", []string{"a", "b", "d"}, []string{"e"}},
		"u3": {"u3", []string{"b", "c"}, []string{"d"}},
		"u4": {"u4", []string{"a", "c", "d", "e", "f"}, []string{"b", "g"}},
		"u5": {"u5", []string{"e", "f"}, []string{"d"}},
		"u6": {"u6", []string{"a", "f"}, nil},
	}
	if !reflect.DeepEqual(gotSplits, wantSplits) {
		t.Errorf("splits %+v, want %+v", gotSplits, wantSplits)
	}

	lists, err := readJSONL[model.Neighbors](c.files().Similarities)
	if err != nil {
		t.Fatal(err)
	}
	want := handCosines()
	got := 0
	for _, l := range lists {
		for _, n := range l.Neighbors {
			got++
			if w, ok := want[[2]string{l.Item, n.Item}]; !ok || math.Abs(n.Score-w) > 1e-12 {
				t.Errorf("cos(%s, %s) = %v, want %v (listed: %v)", l.Item, n.Item, n.Score, w, ok)
			}
		}
	}
	if got != len(want) {
		t.Errorf("%d neighbours listed, want %d", got, len(want))
	}

	l3 := math.Log2(3)
	wantRep := Report{Config: c, Users: 6, TestUsers: 5, TrainPairs: 17, TestPairs: 6, CatalogueItems: 6, ModelItems: 6, K: 2,
		Model: Metrics{Precision: 2. / 5, Recall: 3.5 / 5, NDCG: (2/l3 + 1/(1+1/l3) + 1) / 5, MAP: 2.5 / 5, Coverage: 5. / 6,
			Users: 5},
		Popular: Metrics{Precision: 1. / 5, Recall: 1.5 / 5, NDCG: (1 + 1/(1+1/l3)) / 5, MAP: 1.5 / 5, Coverage: 5. / 6,
			Users: 5, FallbackUsers: 5},
	}
	checkReport(t, rep, wantRep)

	// k = 1 from the same pipeline outputs.
	c.K = 1
	rep, err = evaluate(c)
	if err != nil {
		t.Fatal(err)
	}
	at1 := Metrics{Precision: 2. / 5, Recall: 1.5 / 5, NDCG: 2. / 5, MAP: 1.5 / 5, Coverage: 4. / 6, Users: 5}
	wantRep.Config, wantRep.K, wantRep.Model = c, 1, at1
	at1.FallbackUsers = 5
	wantRep.Popular = at1
	checkReport(t, rep, wantRep)
}

// checkReport compares the counts exactly and item-kNN's and popular's
// metrics within 1e-12.
func checkReport(t *testing.T, got, want Report) {
	t.Helper()
	metrics := func(m Metrics) []float64 { return []float64{m.Precision, m.Recall, m.NDCG, m.MAP, m.Coverage} }
	names := []string{"precision", "recall", "ndcg", "map", "coverage"}
	for _, side := range []struct {
		name      string
		got, want Metrics
	}{{"model", got.Model, want.Model}, {"popular", got.Popular, want.Popular}} {
		g, w := metrics(side.got), metrics(side.want)
		for i := range g {
			if math.Abs(g[i]-w[i]) > 1e-12 {
				t.Errorf("k=%d %s %s = %.15g, want %.15g", want.K, side.name, names[i], g[i], w[i])
			}
		}
		if side.got.Users != side.want.Users || side.got.FallbackUsers != side.want.FallbackUsers {
			t.Errorf("k=%d %s: %d users, %d fallback; want %d, %d", want.K, side.name,
				side.got.Users, side.got.FallbackUsers, side.want.Users, side.want.FallbackUsers)
		}
	}
	got.Model, got.Popular, want.Model, want.Popular = Metrics{}, Metrics{}, Metrics{}, Metrics{}
	got.ALS, want.ALS = nil, nil // ALS's metrics have their tests (als_test.go)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("k=%d report counts %+v, want %+v", want.K, got, want)
	}
}
