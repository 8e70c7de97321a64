// Package topn keeps each item's N most similar items: a typed combiner over
// compact item ids, fed from both directions of every item pair, and the
// final named, sorted neighbour lists the pipeline writes.
package topn

// Neighbor is one similar item and its cosine similarity.
type Neighbor struct {
	Item  string  `json:"item"`
	Score float64 `json:"score"`
}

// Neighbors is one item's neighbour list: score descending, ties broken by
// item id ascending, never the item itself. It is the pipeline's product,
// written as JSONL and to Datastore.
type Neighbors struct {
	Item      string     `json:"item"`
	Neighbors []Neighbor `json:"neighbors"`
}
