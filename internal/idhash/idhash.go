// Package idhash hashes ids the same way in every process, runner and
// release: the user shards, DIMSUM's sampling draws and the seeded
// tie-breaks all come from here, so their results never depend on where
// they were computed.
package idhash

// FNV-1a, 64-bit.
const (
	offset64 = 14695981039346656037
	prime64  = 1099511628211
)

// String is FNV-1a of s.
func String(s string) uint64 { return add(offset64, s) }

// Shard is the shard of id among n (n > 0): the same in every process and
// run, so every side of a job (and every job) keys an id the same way.
func Shard(id string, n int) int { return int(String(id) % uint64(n)) }

func add(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * prime64
	}
	return h
}

// Pair hashes (seed, a, b): FNV-1a over a seed-salted basis, with a
// separator so that ("ab", "c") and ("a", "bc") differ, then splitmix64's
// finaliser, which mixes FNV's low-entropy high bits into every bit.
func Pair(seed uint64, a, b string) uint64 {
	h := (offset64 ^ seed) * prime64
	h = add(h, a)
	h = (h ^ 0xff) * prime64
	h = add(h, b)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Uniform is a number in [0, 1) determined by (seed, a, b) alone: Pair's
// top 53 bits.
func Uniform(seed uint64, a, b string) float64 { return float64(Pair(seed, a, b)>>11) * 0x1p-53 }
