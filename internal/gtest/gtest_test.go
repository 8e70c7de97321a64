package gtest

import (
	"math"
	"testing"
)

// By hand: a perfectly associated 1+1 table is 4·ln 2; an independent
// table is 0.
func TestG(t *testing.T) {
	if got := G(1, 0, 0, 1); math.Abs(got-4*math.Ln2) > 1e-15 {
		t.Errorf("G(1, 0, 0, 1) = %v, want 4 ln 2", got)
	}
	if got := G(3, 6, 5, 10); math.Abs(got) > 1e-15 {
		t.Errorf("G(3, 6, 5, 10) = %v, want 0 (independent)", got)
	}
}
