package recommend

import (
	"fmt"
	"testing"

	"github.com/recsys/itemsim/model"
)

// TestAppendRecent: a user whose latest item is B, then A. By hand: B's
// neighbours not seen lead (C 0.6, H 0.3); then the sums over A's and B's
// lists of the rest (D 0.4, E 0.3, F 0.2, G 0.1; C and H are already
// there); then the popular items not seen nor scored (Z, Y).
func TestAppendRecent(t *testing.T) {
	nb := func(item string, pairs ...any) model.Neighbors {
		l := model.Neighbors{Item: item}
		for k := 0; k < len(pairs); k += 2 {
			l.Neighbors = append(l.Neighbors, model.Neighbor{Item: pairs[k].(string), Score: pairs[k+1].(float64)})
		}
		return l
	}
	m, err := Build([]model.Neighbors{
		nb("A", "B", 0.9, "C", 0.5, "D", 0.4, "E", 0.3, "F", 0.2, "G", 0.1),
		nb("B", "A", 0.9, "C", 0.6, "H", 0.3),
		nb("C", "A", 0.5, "B", 0.6, "D", 0.2),
	}, []model.PopularItem{{Item: "H", Users: 10}, {Item: "Z", Users: 8}, {Item: "A", Users: 7}, {Item: "Y", Users: 5}}, "v")
	if err != nil {
		t.Fatal(err)
	}
	if m.HasRecent() {
		t.Fatal("a model without SetRecent answers from recent items")
	}
	m.SetRecent(map[string][]string{"u": {"B", "A"}, "lost": {"Q"}})
	if !m.HasRecent() {
		t.Fatal("SetRecent did not take")
	}
	for _, c := range []struct {
		user     string
		n        int
		want     string
		popular  int
		fallback bool
	}{
		{"u", 1, "[{C 0.6}]", 0, false},
		{"u", 5, "[{C 0.6} {H 0.3} {D 0.4} {E 0.3} {F 0.2}]", 0, false},
		{"u", 8, "[{C 0.6} {H 0.3} {D 0.4} {E 0.3} {F 0.2} {G 0.1} {Z 8} {Y 5}]", 2, false},
		{"nobody", 3, "[{H 10} {Z 8} {A 7}]", 3, true},
		{"lost", 2, "[{H 10} {Z 8}]", 2, true}, // an item the model does not know
		{"u", 0, "[]", 0, false},
	} {
		res := m.AppendRecent(nil, c.user, c.n)
		if got := fmt.Sprint(res.Items); got != c.want || res.Popular != c.popular || res.Fallback != c.fallback {
			t.Errorf("%s, n=%d: %s (popular %d, fallback %v), want %s (%d, %v)", c.user, c.n, got, res.Popular, res.Fallback, c.want, c.popular, c.fallback)
		}
	}
	// The scratch is reset: the same answer twice.
	if a, b := fmt.Sprint(m.AppendRecent(nil, "u", 8).Items), fmt.Sprint(m.AppendRecent(nil, "u", 8).Items); a != b {
		t.Errorf("second answer %s differs from the first %s", b, a)
	}
}
