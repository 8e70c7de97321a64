// Package model holds the rules that every side of itemsim shares, in plain
// Go with no Beam: the Beam transforms (transforms/...), the offline
// evaluation and the server (recommend, serving) call the same definitions,
// so what is served is what the pipeline computed.
//
//   - action weights and the --clip_score default (Weights, ResolveClip);
//   - the scoring of a user's events into one score per item (Rules,
//     Reduce, Aggregate);
//   - the top-N order, higher score first and ties by the smaller id
//     (Order), and the one bounded selection of the n best (Insert, Merge);
//   - the pipeline's products as they are written and served (Neighbors,
//     PopularItem).
//
// Nothing here links Beam: `go list -deps ./model | grep -c apache/beam`
// is 0.
package model
