package model

// Neighbor is one similar item and its cosine similarity.
type Neighbor struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

// Compare orders neighbours by Order: higher score first, then smaller
// item id.
func (n Neighbor) Compare(o Neighbor) int { return Order(n.Score, n.Item, o.Score, o.Item) }

// Neighbors is one item's neighbour list: score descending, ties broken by
// item id ascending (Neighbor.Compare), never the item itself. It is the
// similarity job's product, written as JSONL and to Datastore, and what the
// server loads.
type Neighbors struct {
	Item      string     `json:"item"`
	Neighbors []Neighbor `json:"neighbors"`
}

// UserList is one user's recommended items, best first (Neighbor.Compare),
// the user's own items removed: the ALS job's per-user product, written as
// JSONL (--user_output) and to Datastore, and what the server answers
// GET /v1/users/{user}/recommendations from.
type UserList struct {
	User  string     `json:"user"`
	Items []Neighbor `json:"items"`
}

// PopularItem is an item and the number of users with a score for it: an
// entry of the popular list, the fallback a recommender serves when a
// customer's items have no neighbours.
type PopularItem struct {
	Item  string `json:"item"`
	Users int64  `json:"users"`
}

// Compare orders popular items by Order: more users first, then smaller
// item id.
func (p PopularItem) Compare(o PopularItem) int { return Order(p.Users, p.Item, o.Users, o.Item) }
