// Package testlogs generates interaction logs for tests that need a
// property the committed fixture lacks, deterministically from a seed.
package testlogs

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Clustered is a log where DIMSUM really samples: 200 items in 40 clusters
// of 5; each of 20,000 users picks a cluster, takes each of its items with
// probability 0.8, and one item at random, with score 1. An item's squared
// norm is about 500 users, above sg² = 10·ln(200)/0.3 = 177 at t = 0.3, so
// about 40% of entries are dropped, while items of one cluster have
// cosines near 0.64. It returns the CSV (header user,item,score) and each
// user's items.
func Clustered() (csv string, users map[string][]string) {
	r := rand.New(rand.NewPCG(2024, 12))
	users = map[string][]string{}
	var b strings.Builder
	b.WriteString("user,item,score\n")
	for u := 0; u < 20000; u++ {
		user := fmt.Sprintf("u%05d", u)
		c := r.IntN(40)
		var items []string
		random := r.IntN(200)
		for k := 0; k < 5; k++ {
			if i := c*5 + k; r.Float64() < 0.8 && i != random {
				items = append(items, fmt.Sprintf("i%03d", i))
			}
		}
		items = append(items, fmt.Sprintf("i%03d", random))
		for _, item := range items {
			fmt.Fprintf(&b, "%s,%s,1\n", user, item)
		}
		users[user] = items
	}
	return b.String(), users
}
