package datastoreio

import (
	"fmt"
	"math"
	"slices"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/simstore"
)

// Kinds of record, the entities a version holds.
const (
	recordItem = iota
	recordUser
	recordFactor
)

// record is one entity to write: an item's neighbours, a user's list or
// an item's factor. The inputs of a write are flattened into one
// PCollection of records, so that one count, one write step and one
// publish step serve them all.
type record struct {
	Kind int
	// ID is the item or user, the entity's key name.
	ID string
	// List is the neighbours (items) or recommendations (users).
	List []model.Neighbor
	// Factor is the item's factor (recordFactor).
	Factor []float64
}

func itemRecord(n model.Neighbors) record {
	return record{Kind: recordItem, ID: n.Item, List: n.Neighbors}
}

func userRecord(u model.UserList) record {
	return record{Kind: recordUser, ID: u.User, List: u.Items}
}

func factorRecord(f als.FactorRow) record {
	return record{Kind: recordFactor, ID: f.ID, Factor: f.Factor}
}

// tally counts records (or entities) by kind.
type tally struct {
	Items, Users, Factors int
}

// add counts n more entities of kind.
func (t *tally) add(kind, n int) {
	switch kind {
	case recordItem:
		t.Items += n
	case recordUser:
		t.Users += n
	case recordFactor:
		t.Factors += n
	}
}

func (t tally) plus(o tally) tally {
	return tally{Items: t.Items + o.Items, Users: t.Users + o.Users, Factors: t.Factors + o.Factors}
}

func (t tally) minus(o tally) tally {
	return tally{Items: t.Items - o.Items, Users: t.Users - o.Users, Factors: t.Factors - o.Factors}
}

func (t tally) total() int { return t.Items + t.Users + t.Factors }

// String reads "3 items, 2 user lists, 3 item factors", naming user lists
// and factors only when there are some.
func (t tally) String() string {
	s := fmt.Sprintf("%d items", t.Items)
	if t.Users > 0 {
		s += fmt.Sprintf(", %d user lists", t.Users)
	}
	if t.Factors > 0 {
		s += fmt.Sprintf(", %d item factors", t.Factors)
	}
	return s
}

// sum adds up the tallies of a side input.
func sum(tallies func(*tally) bool) tally {
	var total tally
	for t := (tally{}); tallies(&t); {
		total = total.plus(t)
	}
	return total
}

// recordOp builds the upsert of r in version v ("" in place). rank is the
// length factors must have.
func recordOp(keys simstore.Keys, v string, r record, rank int, updated time.Time) (op, error) {
	switch r.Kind {
	case recordItem:
		return upsertOp(keys, v, model.Neighbors{Item: r.ID, Neighbors: r.List}, updated)
	case recordUser:
		return listOp(keys.User(v, r.ID), recordUser, "user", "items", "--user_top_n", r.ID, r.List, v, updated)
	case recordFactor:
		return factorOp(keys, v, r.ID, r.Factor, rank, updated)
	}
	return op{}, fmt.Errorf("datastoreio: unknown record kind %d", r.Kind)
}

// upsertOp builds the upsert of n's entity in version v ("" in place).
func upsertOp(keys simstore.Keys, v string, n model.Neighbors, updated time.Time) (op, error) {
	return listOp(keys.Item(v, n.Item), recordItem, "item", "neighbours", "--top_n", n.Item, n.Neighbors, v, updated)
}

// listOp builds the upsert of a list of neighbours, an item's or a user's
// (noun) named id, at key. Errors count the list's elements in elems and
// name the flag bounding its length.
func listOp(key *datastore.Key, kind int, noun, elems, flag, id string, list []model.Neighbor, v string, updated time.Time) (op, error) {
	if err := validKeyName(id); err != nil {
		return op{}, fmt.Errorf("datastoreio: %s %.100q cannot be a key name: %w", noun, id, err)
	}
	// Sort a copy: inputs must not be mutated, and readers rely on the order.
	ns := slices.Clone(list)
	slices.SortStableFunc(ns, model.Neighbor.Compare)
	e := &simstore.Entity{Items: make([]string, len(ns)), Scores: make([]float64, len(ns)), Version: v, UpdatedAt: updated}
	for i, nb := range ns {
		e.Items[i], e.Scores[i] = nb.Item, nb.Score
	}
	size := entityBytes(key, e)
	if size > maxEntityBytes {
		return op{}, fmt.Errorf("datastoreio: %s %.100q: entity of %d %s is about %d bytes, over Datastore's %d-byte limit; lower %s",
			noun, id, len(ns), elems, size, maxEntityBytes, flag)
	}
	return op{mut: datastore.NewUpsert(key, e), key: key.String(), what: fmt.Sprintf("%s %q", noun, id), bytes: size, kind: kind}, nil
}

// factorOp builds the upsert of item's factor in version v: rank finite
// numbers, so that readers fold users in against factors of one length.
func factorOp(keys simstore.Keys, v, item string, factor []float64, rank int, updated time.Time) (op, error) {
	if err := validKeyName(item); err != nil {
		return op{}, fmt.Errorf("datastoreio: item factor %.100q cannot be a key name: %w", item, err)
	}
	if len(factor) != rank {
		return op{}, fmt.Errorf("datastoreio: the factor of item %.100q has %d numbers, want the rank %d", item, len(factor), rank)
	}
	for _, x := range factor {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return op{}, fmt.Errorf("datastoreio: the factor of item %.100q holds %v", item, x)
		}
	}
	key := keys.Factor(v, item)
	e := &simstore.Factor{Factor: factor, Version: v, UpdatedAt: updated}
	// Laid out as an entity of scores alone.
	size := entityBytes(key, &simstore.Entity{Scores: factor, Version: v})
	return op{mut: datastore.NewUpsert(key, e), key: key.String(), what: fmt.Sprintf("item factor %q", item), bytes: size, kind: recordFactor}, nil
}
