package model

import (
	"reflect"
	"testing"
)

func TestParseWeights(t *testing.T) {
	w, err := ParseWeights("view:0.5, cart:2,purchase:6")
	if err != nil || !reflect.DeepEqual(w, Weights{"view": 0.5, "cart": 2, "purchase": 6}) {
		t.Fatalf("ParseWeights = %v, %v", w, err)
	}
	if got := w.String(); got != "cart:2,purchase:6,view:0.5" {
		t.Errorf("String() = %q", got)
	}
	if w.Max() != 6 {
		t.Errorf("Max() = %v", w.Max())
	}
	for _, bad := range []string{"view", "view:x", "view:-1", "a:1,a:2", ":1", "a:NaN", "a:1e151", "a:Inf"} {
		if _, err := ParseWeights(bad); err == nil {
			t.Errorf("ParseWeights(%q) accepted", bad)
		}
	}
	if w, err := ParseWeights("  "); err != nil || len(w) != 0 {
		t.Errorf("ParseWeights(blank) = %v, %v; want no weights", w, err)
	}
	if w, err := ParseWeights("a:1e150"); err != nil || w["a"] != MaxScore {
		t.Errorf("ParseWeights(a:1e150) = %v, %v; MaxScore itself is accepted", w, err)
	}
}

// TestResolveClip: the --clip_score default, written out by hand.
func TestResolveClip(t *testing.T) {
	seed := Weights{"1": 0.5, "2": 2, "3": 6}
	tests := []struct {
		name string
		w    Weights
		clip float64
		want float64
	}{
		{"default: the largest action weight", seed, DefaultClip, 6},
		{"any negative is the default", seed, -0.5, 6},
		{"score field (no weights): no clip", nil, DefaultClip, 0},
		{"0 disables", seed, 0, 0},
		{"an explicit clip is kept", seed, 3.5, 3.5},
		{"an explicit clip above the weights too", seed, 10, 10},
	}
	for _, tc := range tests {
		if got := tc.w.ResolveClip(tc.clip); got != tc.want {
			t.Errorf("%s: ResolveClip(%v) = %v, want %v", tc.name, tc.clip, got, tc.want)
		}
	}
}

// FuzzParseWeights: any text either fails or parses to weights in
// [0, MaxScore] that String prints back to the same weights.
func FuzzParseWeights(f *testing.F) {
	for _, s := range []string{"1:0.5,2:2,3:6", "view:0.5, cart:2,purchase:6", "a:1,a:2", "a:1e151", ":1", "", "a:0x1p-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWeights(s)
		if err != nil {
			return
		}
		for k, v := range w {
			if k == "" || !(v >= 0 && v <= MaxScore) {
				t.Fatalf("ParseWeights(%q) gave %q:%v", s, k, v)
			}
		}
		back, err := ParseWeights(w.String())
		if err != nil || !reflect.DeepEqual(back, w) {
			t.Fatalf("ParseWeights(%q).String() = %q reads back as %v, %v", s, w.String(), back, err)
		}
	})
}
