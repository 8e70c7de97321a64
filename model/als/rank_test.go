package als

import (
	"slices"
	"testing"

	"github.com/recsys/itemsim/model"
)

// TestRanker ranks by hand: x = (1, 2) against five items, scores
// 1·a + 2·b written out.
func TestRanker(t *testing.T) {
	table := []string{"a", "b", "c", "d", "e"}
	items := []float64{
		1, 0, // a: 1
		0, 1, // b: 2
		2, 0, // c: 2 (ties b; b's position is smaller)
		1, 1, // d: 3
		-1, 0, // e: -1
	}
	x := []float64{1, 2}
	r := NewRanker(items, 2)
	got := slices.Clone(r.Top(x, nil, 3))
	want := []model.Candidate{{ID: 3, Score: 3}, {ID: 1, Score: 2}, {ID: 2, Score: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("Top = %v, want %v", got, want)
	}
	seen := Seen(table, []string{"d", "zz", "b", "d"})
	if !slices.Equal(seen, []int32{1, 3}) {
		t.Fatalf("Seen = %v, want [1 3]", seen)
	}
	got = r.Top(x, seen, 10)
	want = []model.Candidate{{ID: 2, Score: 2}, {ID: 0, Score: 1}, {ID: 4, Score: -1}}
	if !slices.Equal(got, want) {
		t.Errorf("Top without b, d = %v, want %v", got, want)
	}
}
