package model

import "testing"

// TestFloorDiv: rounds down, for negative dividends too, by hand.
func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{1_500_000, 1e6, 1}, {-500_000, 1e6, -1}, {-1_000_000, 1e6, -1}, {0, 1e6, 0}, {-1, 1, -1}, {-86401, 86400, -2}, {7, 3, 2},
	} {
		if got := FloorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
