// Package scoring turns a user's interaction events into one implicit score
// per (user, item): weights are decayed by age, summed or maxed per item,
// clipped, and the user's items capped to the best-scored ones.
//
// Aggregate is the plain-Go rule; PerUser is the Beam wrapper that groups
// events by user.
package scoring

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/idhash"
)

// Aggregation modes.
const (
	AggregateSum = "sum" // the sum of the item's event weights (the seed's rule)
	AggregateMax = "max" // the largest single weight (Tencent's real-time item-CF)
)

// Config holds the scoring rules. Times are unix seconds; 0 leaves a bound
// open.
type Config struct {
	Aggregate string
	// HalfLife in seconds: an event's weight halves every HalfLife before
	// AsOf (0: no decay).
	HalfLife float64
	// AsOf is the reference time of the decay; 0 means the newest event.
	AsOf int64
	// Since and Until keep events with Since <= time < Until.
	Since, Until int64
	// Clip caps each (user, item) score; 0 disables it.
	Clip float64
	// MaxItemsPerUser keeps a user's highest-scored items only; 0 keeps all.
	// Items are ranked by their score before clipping, ties broken by a hash
	// of (Seed, user, item), so the cap favours no range of ids.
	MaxItemsPerUser int
	// Seed fixes the cap's tie-break (the job's --seed).
	Seed uint64
	// Shards is the number of user shards PerUser groups by; 0 means
	// DefaultShards.
	Shards int
}

// DefaultShards is the default number of user shards: enough for the
// aggregation to spread over many workers, few enough that each bundle
// ships a few large elements.
const DefaultShards = 256

// shards resolves the configured number of user shards.
func (c Config) shards() int {
	if c.Shards > 0 {
		return c.Shards
	}
	return DefaultShards
}

// ShardOf returns the shard in [0, n) of a user: FNV-1a of the name, the
// same in every process.
func ShardOf(user string, n int) int64 { return int64(idhash.String(user) % uint64(n)) }

// NeedsTime reports whether the rules read event times.
func (c Config) NeedsTime() bool { return c.HalfLife > 0 || c.Since != 0 || c.Until != 0 }

// Validate reports an inconsistent configuration in terms of its flags.
func (c Config) Validate() error {
	switch {
	case c.Aggregate != AggregateSum && c.Aggregate != AggregateMax:
		return fmt.Errorf("--aggregate=%q: want sum or max", c.Aggregate)
	case c.HalfLife < 0 || math.IsNaN(c.HalfLife) || math.IsInf(c.HalfLife, 0):
		return fmt.Errorf("--half_life must be a positive duration or 0")
	case c.Clip < 0 || math.IsNaN(c.Clip) || math.IsInf(c.Clip, 0):
		return fmt.Errorf("--clip_score must be >= 0 (0 disables clipping)")
	case c.MaxItemsPerUser < 0:
		return fmt.Errorf("--max_items_per_user must be >= 0 (0 keeps every item)")
	case c.Shards < 0:
		return fmt.Errorf("--user_shards must be >= 0 (0 means %d)", DefaultShards)
	case c.Since != 0 && c.Until != 0 && c.Since >= c.Until:
		return fmt.Errorf("--since must be before --until")
	}
	return nil
}

// InWindow reports whether an event time lies in [Since, Until).
func (c Config) InWindow(t int64) bool {
	return (c.Since == 0 || t >= c.Since) && (c.Until == 0 || t < c.Until)
}

// Decay scales a weight by its age relative to asOf: 2^(-age/HalfLife).
// Events newer than asOf count in full.
func (c Config) Decay(weight float64, t, asOf int64) float64 {
	if c.HalfLife <= 0 {
		return weight
	}
	age := float64(asOf - t)
	if age <= 0 {
		return weight
	}
	return weight * math.Exp2(-age/c.HalfLife)
}

// Weighted is one event's (decayed) weight for an item.
type Weighted struct {
	Item   string
	Weight float64
}

// Row is one user's scores: items ascending, scores aligned, every score > 0.
type Row struct {
	User   string
	Items  []string
	Scores []float64
}

// Shard is some users' rows, users ascending: the element PerUser
// returns. Users hash to a fixed number of shards, so a few large elements
// cross each shuffle instead of one per user: Prism and portable Flink pay
// per element.
type Shard struct {
	Rows []Row
}

// PartialShard is one bundle's partials of one shard's users, aligned.
type PartialShard struct {
	Users []string
	Parts []Partial
}

// Counts reports what Aggregate changed.
type Counts struct {
	Clipped int // scores lowered to Clip
	Capped  int // items dropped by MaxItemsPerUser
}

// Partial is some of a user's events reduced per item: items ascending,
// the exact sum and the largest of each item's weights. Partials merge in
// any order to the same result.
type Partial struct {
	Items []string
	Sums  []exactsum.Sum
	Maxes []float64
}

// Reduce reduces events (reordered in place) to a Partial.
func Reduce(events []Weighted) Partial {
	slices.SortFunc(events, func(a, b Weighted) int { return cmp.Compare(a.Item, b.Item) })
	var p Partial
	for _, e := range events {
		n := len(p.Items)
		if n == 0 || p.Items[n-1] != e.Item {
			p.Items = append(p.Items, e.Item)
			p.Sums = append(p.Sums, exactsum.Sum{})
			p.Maxes = append(p.Maxes, 0)
			n++
		}
		p.Sums[n-1].Add(e.Weight)
		p.Maxes[n-1] = math.Max(p.Maxes[n-1], e.Weight)
	}
	return p
}

// Aggregate merges a user's partials into its row: one score per item (sum
// or max), clipped, zero scores dropped, capped to MaxItemsPerUser. Sums are
// exact fixed-point sums, so the row does not depend on how the events were
// split into partials or ordered.
func Aggregate(c Config, user string, parts []Partial) (Row, Counts) {
	type entry struct {
		item string
		sum  exactsum.Sum
		max  float64
	}
	var unclipped []float64 // aligned with row.Items, for the cap
	var all []entry
	for _, p := range parts {
		for k, item := range p.Items {
			all = append(all, entry{item, p.Sums[k], p.Maxes[k]})
		}
	}
	slices.SortFunc(all, func(a, b entry) int { return cmp.Compare(a.item, b.item) })
	row := Row{User: user}
	var counts Counts
	for i := 0; i < len(all); {
		sum, best := all[i].sum, all[i].max
		j := i + 1
		for ; j < len(all) && all[j].item == all[i].item; j++ {
			sum.Merge(all[j].sum)
			best = math.Max(best, all[j].max)
		}
		score := best
		if c.Aggregate == AggregateSum {
			score = sum.Float64()
		}
		raw := score
		if c.Clip > 0 && score > c.Clip {
			score = c.Clip
			counts.Clipped++
		}
		if score > 0 {
			row.Items = append(row.Items, all[i].item)
			row.Scores = append(row.Scores, score)
			unclipped = append(unclipped, raw)
		}
		i = j
	}
	if c.MaxItemsPerUser > 0 && len(row.Items) > c.MaxItemsPerUser {
		counts.Capped = len(row.Items) - c.MaxItemsPerUser
		row = capRow(row, unclipped, c.MaxItemsPerUser, c.Seed)
	}
	return row, counts
}

// capRow keeps the n items with the best unclipped scores, ties broken by
// a hash of (seed, user, item), then by id; items stay ascending.
func capRow(r Row, unclipped []float64, n int, seed uint64) Row {
	idx := make([]int, len(r.Items))
	tie := make([]uint64, len(r.Items))
	for i := range idx {
		idx[i] = i
		tie[i] = idhash.Pair(seed, r.User, r.Items[i])
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(unclipped[b], unclipped[a]); c != 0 {
			return c
		}
		if c := cmp.Compare(tie[a], tie[b]); c != 0 {
			return c
		}
		return cmp.Compare(r.Items[a], r.Items[b])
	})
	idx = idx[:n]
	slices.Sort(idx)
	out := Row{User: r.User, Items: make([]string, n), Scores: make([]float64, n)}
	for k, i := range idx {
		out.Items[k], out.Scores[k] = r.Items[i], r.Scores[i]
	}
	return out
}
