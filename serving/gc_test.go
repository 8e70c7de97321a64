package main

import "testing"

func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		live, headroom int64
		want           int
	}{
		{2 << 20, 64 << 20, 3200},  // ML-100k-sized model: goal 66 MB
		{1 << 30, 64 << 20, 100},   // a large model keeps the default
		{100 << 20, 64 << 20, 100}, // 64% would be below the default
		{10, 64 << 20, 6400},       // live is taken as at least 1 MB
		{1 << 20, 1 << 40, 10000},  // capped
		{48 << 20, 64 << 20, 134},  // rounded up
	} {
		if got := gcPercent(tc.live, tc.headroom); got != tc.want {
			t.Errorf("gcPercent(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
		}
	}
}
