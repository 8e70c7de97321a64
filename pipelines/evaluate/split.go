package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/recsys/itemsim/transforms/dimsum"
	"github.com/recsys/itemsim/transforms/interactions"
)

// Split modes.
const (
	SplitRandom = "random" // a seeded hash ranks each user's items
	SplitTime   = "time"   // each user's most recently first-seen items are the test
)

// splitSalt separates the split's hash stream from DIMSUM's, which draws
// from the same (seed, user, item) hash: with equal seeds, the sampled
// entries would otherwise correlate with the held-out ones.
const splitSalt = 0x9e3779b97f4a7c15

// SplitConfig says how each user's items are held out.
type SplitConfig struct {
	Mode string
	// TestFraction of each user's distinct items go to the test set,
	// rounded half to even (as numpy does in Microsoft Recommenders'
	// stratified split).
	TestFraction float64
	Seed         uint64
}

// Validate reports a bad configuration in terms of its flags.
func (c SplitConfig) Validate() error {
	switch {
	case c.Mode != SplitRandom && c.Mode != SplitTime:
		return fmt.Errorf("--split=%q: want random or time", c.Mode)
	case !(c.TestFraction > 0 && c.TestFraction < 1):
		return fmt.Errorf("--test_fraction must be in (0, 1)")
	}
	return nil
}

// Split is one user's held-out items: Train and Test are disjoint and
// ascending. The unit is the (user, item) pair, so every event of a pair
// lands on the same side and no test interaction reaches training.
type Split struct {
	User  string   `json:"user"`
	Train []string `json:"train"`
	Test  []string `json:"test"`
}

// SplitUser splits one user's events: trainEvents are
// the events of the training items. SplitTime needs every event's time and
// ranks items by their first event, ties by item.
func (c SplitConfig) SplitUser(user string, events []interactions.Event) (s Split, trainEvents []interactions.Event, err error) {
	type entry struct {
		item string
		rank float64 // ascending: train first
	}
	first := map[string]int64{}
	for _, e := range events {
		if c.Mode == SplitTime && !e.HasTime {
			return Split{}, nil, fmt.Errorf("--split=time: user %q item %q has no time (set --time_field)", user, e.Item)
		}
		if t, ok := first[e.Item]; !ok || e.Time < t {
			first[e.Item] = e.Time
		}
	}
	entries := make([]entry, 0, len(first))
	for item, t := range first {
		rank := float64(t)
		if c.Mode == SplitRandom {
			rank = dimsum.Draw(c.Seed^splitSalt, user, item)
		}
		entries = append(entries, entry{item, rank})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if r := cmp.Compare(a.rank, b.rank); r != 0 {
			return r
		}
		return cmp.Compare(a.item, b.item)
	})
	nTrain := int(math.RoundToEven(float64(len(entries)) * (1 - c.TestFraction)))
	s.User = user
	inTrain := make(map[string]bool, nTrain)
	for k, e := range entries {
		if k < nTrain {
			s.Train = append(s.Train, e.item)
			inTrain[e.item] = true
		} else {
			s.Test = append(s.Test, e.item)
		}
	}
	slices.Sort(s.Train)
	slices.Sort(s.Test)
	for _, e := range events {
		if inTrain[e.Item] {
			trainEvents = append(trainEvents, e)
		}
	}
	return s, trainEvents, nil
}

// heldOut are the events of the items in test (sorted), in events' order.
func heldOut(events []interactions.Event, test []string) []interactions.Event {
	var out []interactions.Event
	for _, e := range events {
		if _, found := slices.BinarySearch(test, e.Item); found {
			out = append(out, e)
		}
	}
	return out
}
