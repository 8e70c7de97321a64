// Package topn keeps each item's N most similar items: a typed combiner
// over compact item ids (model.Candidate, selected by model.Insert and
// model.Merge), fed from both directions of every item pair, and the final
// named, sorted neighbour lists (model.Neighbors) the pipeline writes.
package topn

import "github.com/recsys/itemsim/model"

// Neighbor is model.Neighbor.
//
// Deprecated: temporary alias, use model.Neighbor.
type Neighbor = model.Neighbor

// Neighbors is model.Neighbors.
//
// Deprecated: temporary alias, use model.Neighbors.
type Neighbors = model.Neighbors
