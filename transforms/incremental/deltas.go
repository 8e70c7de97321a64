package incremental

// CountDelta changes itemCount(Item): the term Sub leaves it and Add joins
// it (0: none).
type CountDelta struct {
	Item     string
	Sub, Add float64
}

// PairDelta changes pairCount(I, J) as seen from item I's side: the term
// Sub (the pair's co-rating before) leaves it and Add (after) joins it.
// Deltas gives each change in both directions, (I, J) and (J, I), so that
// each item's side holds all its pairs.
type PairDelta struct {
	I, J     string
	Sub, Add float64
}

// HotDelta changes the number of users of Item in the hot window by
// Users (+1 or −1).
type HotDelta struct {
	Item  string
	Users int64
}

// HotDeltas are the changes of a user's hot items from before to after
// (both ascending): +1 for an item that joined, −1 for one that left.
func HotDeltas(before, after []string) []HotDelta {
	var out []HotDelta
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || i < len(before) && before[i] < after[j]:
			out = append(out, HotDelta{Item: before[i], Users: -1})
			i++
		case i == len(before) || after[j] < before[i]:
			out = append(out, HotDelta{Item: after[j], Users: 1})
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return out
}

// Deltas are the count changes from one user's ratings before to after
// (items ascending, values > 0; an item missing from a side is rated 0):
// one CountDelta per item whose rating changed, and one PairDelta per
// direction of every pair with such an item whose co-rating
// min(r_ui, r_uj) changed. It costs O(changed·|I_u|), what TencentRec pays
// per event.
func Deltas(before, after []Rating) ([]CountDelta, []PairDelta) {
	items := union(before, after)
	var counts []CountDelta
	var pairs []PairDelta
	for a, x := range items {
		if x.before == x.after {
			continue
		}
		counts = append(counts, CountDelta{Item: x.item, Sub: x.before, Add: x.after})
		for b, y := range items {
			if b == a || b < a && y.before != y.after { // a changed pair once
				continue
			}
			sub, add := coRating(x.before, y.before), coRating(x.after, y.after)
			if sub == add {
				continue
			}
			pairs = append(pairs, PairDelta{I: x.item, J: y.item, Sub: sub, Add: add},
				PairDelta{I: y.item, J: x.item, Sub: sub, Add: add})
		}
	}
	return counts, pairs
}

// coRating is a user's term of a pair's count: the smaller rating, 0 when
// the user has not rated both.
func coRating(x, y float64) float64 {
	if x == 0 || y == 0 {
		return 0
	}
	return min(x, y)
}

// change is an item's rating on either side of an Advance.
type change struct {
	item          string
	before, after float64
}

// union merges two rating lists, items ascending.
func union(before, after []Rating) []change {
	out := make([]change, 0, max(len(before), len(after)))
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || i < len(before) && before[i].Item < after[j].Item:
			out = append(out, change{item: before[i].Item, before: before[i].Value})
			i++
		case i == len(before) || after[j].Item < before[i].Item:
			out = append(out, change{item: after[j].Item, after: after[j].Value})
			j++
		default:
			out = append(out, change{item: before[i].Item, before: before[i].Value, after: after[j].Value})
			i, j = i+1, j+1
		}
	}
	return out
}
