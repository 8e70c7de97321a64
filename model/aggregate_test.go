package model

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

func TestAggregate(t *testing.T) {
	sum := Rules{Aggregate: AggregateSum}
	events := []Weighted{{"b", 0.5}, {"a", 2}, {"b", 0.5}, {"b", 6}, {"c", 0.5}}
	tests := []struct {
		name   string
		rules  Rules
		want   Row
		counts Counts
	}{
		{"sum", sum, Row{User: "u", Items: []string{"a", "b", "c"}, Scores: []float64{2, 7, 0.5}}, Counts{}},
		{"max", Rules{Aggregate: AggregateMax}, Row{User: "u", Items: []string{"a", "b", "c"}, Scores: []float64{2, 6, 0.5}}, Counts{}},
		{"clip", Rules{Aggregate: AggregateSum, Clip: 6}, Row{User: "u", Items: []string{"a", "b", "c"}, Scores: []float64{2, 6, 0.5}}, Counts{Clipped: 1}},
		{"cap keeps the best", Rules{Aggregate: AggregateSum, MaxItemsPerUser: 2}, Row{User: "u", Items: []string{"a", "b"}, Scores: []float64{2, 7}}, Counts{Capped: 1}},
		// Every score clips to 0.5; the cap ranks the unclipped ones (b: 6).
		{"cap ranks unclipped scores", Rules{Aggregate: AggregateMax, MaxItemsPerUser: 1, Clip: 0.5}, Row{User: "u", Items: []string{"b"}, Scores: []float64{0.5}}, Counts{Clipped: 2, Capped: 2}},
	}
	for _, tc := range tests {
		in := append([]Weighted(nil), events...)
		got, counts := Aggregate(tc.rules, "u", []Partial{Reduce(in)})
		if !reflect.DeepEqual(got, tc.want) || counts != tc.counts {
			t.Errorf("%s: got %+v %+v, want %+v %+v", tc.name, got, counts, tc.want, tc.counts)
		}
	}
}

// TestCapTiesFavourNoIds: 20,000 users whose 10 items all score alike keep
// one item each. With ties broken by a seeded hash, every item is kept by
// 10% of the users, within 1 point (the binomial's standard deviation is
// 0.21 points: 1 point is nearly 5 of them); breaking ties by id would keep
// "i0" every time. Another seed keeps another item for most users.
func TestCapTiesFavourNoIds(t *testing.T) {
	const users, items = 20000, 10
	events := make([]Weighted, items)
	for k := range events {
		events[k] = Weighted{Item: "i" + string(rune('0'+k)), Weight: 6}
	}
	kept := map[string]int{}
	moved := 0
	for u := 0; u < users; u++ {
		user := "u" + strconv.Itoa(u)
		row, _ := Aggregate(Rules{Aggregate: AggregateSum, Clip: 2, MaxItemsPerUser: 1, Seed: 1}, user, []Partial{Reduce(slices.Clone(events))})
		kept[row.Items[0]]++
		other, _ := Aggregate(Rules{Aggregate: AggregateSum, Clip: 2, MaxItemsPerUser: 1, Seed: 2}, user, []Partial{Reduce(slices.Clone(events))})
		if other.Items[0] != row.Items[0] {
			moved++
		}
	}
	for k := range events {
		if share := float64(kept[events[k].Item]) / users; math.Abs(share-0.1) > 0.01 {
			t.Errorf("item %s kept by %.3f of users, want 0.100 ± 0.010", events[k].Item, share)
		}
	}
	if share := float64(moved) / users; math.Abs(share-0.9) > 0.02 {
		t.Errorf("a new seed changed the kept item for %.3f of users, want 0.90 ± 0.02", share)
	}
}

func TestAggregateDropsZeroScores(t *testing.T) {
	got, _ := Aggregate(Rules{Aggregate: AggregateSum}, "u", []Partial{Reduce([]Weighted{{"a", 0}, {"b", 1}})})
	if !reflect.DeepEqual(got.Items, []string{"b"}) {
		t.Errorf("items %v: a zero score must not enter the matrix", got.Items)
	}
}

// TestAggregateIgnoresSplits: however a user's events are split over
// bundles and ordered, the row is the same to the bit.
func TestAggregateIgnoresSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var events []Weighted
	for k := 0; k < 300; k++ {
		events = append(events, Weighted{Item: string(rune('a' + r.IntN(8))), Weight: r.Float64() * 3})
	}
	rules := Rules{Aggregate: AggregateSum}
	want, _ := Aggregate(rules, "u", []Partial{Reduce(slices.Clone(events))})
	for trial := 0; trial < 20; trial++ {
		r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		var parts []Partial
		for rest := slices.Clone(events); len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			parts = append(parts, Reduce(rest[:n]))
			rest = rest[n:]
		}
		if got, _ := Aggregate(rules, "u", parts); !reflect.DeepEqual(got, want) {
			t.Fatalf("split into %d partials: %+v, want %+v", len(parts), got, want)
		}
	}
}
