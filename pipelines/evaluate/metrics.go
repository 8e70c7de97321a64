package main

import "math"

// Metrics are ranking metrics at k averaged over users, with binary
// relevance: an item is relevant when it is in the user's test set.
type Metrics struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	NDCG      float64 `json:"ndcg"`
	MAP       float64 `json:"map"`
	// Coverage is the share of the catalogue (items in training) that was
	// recommended to at least one user.
	Coverage float64 `json:"coverage"`
	// Users is the number of users averaged over: those with a test item.
	Users int `json:"users"`
	// FallbackUsers got the popular fallback because nothing scored.
	FallbackUsers int `json:"fallback_users"`
}

// UserMetrics are one user's metrics at k for a ranked list recs and the
// set of relevant items rel (non-empty):
//
//   - precision@k = hits / k (k, not len(recs): a short list is penalised),
//   - recall@k = hits / |rel|,
//   - nDCG@k = Σ_{hit at rank i} 1/log2(i+1) over the ideal Σ_{i ≤ min(|rel|, k)} 1/log2(i+1),
//   - AP@k = Σ_{hit at rank i} precision@i / |rel|, as Spark MLlib and the
//     Microsoft Recommenders benchmark compute MAP.
//
// Only the first k of recs count.
func UserMetrics(recs []string, rel map[string]bool, k int) (precision, recall, ndcg, ap float64) {
	if len(recs) > k {
		recs = recs[:k]
	}
	hits := 0
	var dcg, sumPrec float64
	for i, it := range recs {
		if rel[it] {
			hits++
			dcg += 1 / math.Log2(float64(i+2))
			sumPrec += float64(hits) / float64(i+1)
		}
	}
	var idcg float64
	for i := range min(len(rel), k) {
		idcg += 1 / math.Log2(float64(i+2))
	}
	n := float64(len(rel))
	return float64(hits) / float64(k), float64(hits) / n, dcg / idcg, sumPrec / n
}
