package idhash

import (
	"fmt"
	"math"
	"testing"
)

// TestKnownValues pins String to FNV-1a's published test vectors (user
// shards must not move between releases) and checks that Pair's seed and
// separator count.
func TestKnownValues(t *testing.T) {
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := String(s); got != want {
			t.Errorf("String(%q) = %#x, want %#x", s, got, want)
		}
	}
	if Pair(1, "ab", "c") == Pair(1, "a", "bc") {
		t.Error("the separator does not separate")
	}
	if Pair(1, "u", "i") == Pair(2, "u", "i") {
		t.Error("the seed changes nothing")
	}
}

// TestUniformIsUniform checks the draws' mean and spread over 200,000 keys
// (fixed): mean 0.5 within 5 standard errors (σ/√n = 0.000645) and each
// tenth of [0, 1) holding 10% ± 0.5%.
func TestUniformIsUniform(t *testing.T) {
	const n = 200_000
	var sum float64
	var bins [10]int
	for i := 0; i < n; i++ {
		u := Uniform(7, "user"+string(rune('a'+i%26)), string(rune(i)))
		if u < 0 || u >= 1 {
			t.Fatalf("draw %v outside [0, 1)", u)
		}
		sum += u
		bins[int(u*10)]++
	}
	if mean := sum / n; math.Abs(mean-0.5) > 5*math.Sqrt(1.0/12/n) {
		t.Errorf("mean %v", mean)
	}
	for b, c := range bins {
		if math.Abs(float64(c)/n-0.1) > 0.005 {
			t.Errorf("bin %d holds %d", b, c)
		}
	}
}

// TestShard: a shard is the id's hash modulo n, in [0, n).
func TestShard(t *testing.T) {
	for _, n := range []int{1, 7, 16} {
		for i := range 1000 {
			id := fmt.Sprint("id", i)
			if got := Shard(id, n); got < 0 || got >= n || uint64(got) != String(id)%uint64(n) {
				t.Fatalf("Shard(%s, %d) = %d, want %d", id, n, got, String(id)%uint64(n))
			}
		}
	}
}
