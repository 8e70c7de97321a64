// Package synth generates synthetic e-commerce interaction logs with the
// skew of real ones: power-law (Zipf) user activity and item popularity,
// users who favour a few categories, and an action mix of about 98% views,
// 1% basket adds and 1% purchases (the REES46 sample's mix). The same
// Config always gives the same log.
//
// Its parameters are fixed here and documented in the README before any
// figure is measured on its output; nothing is tuned to flatter a result.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
)

// Config sizes a log.
type Config struct {
	Interactions int    // rows to write
	Users        int    // user population (default Interactions/10)
	Items        int    // catalogue size
	Seed         uint64 // the log is a function of the config
	// Start is the unix time of the first possible event; events spread
	// over Days days.
	Start int64
	Days  int
}

// Fixed shape parameters (see the package comment).
const (
	userExponent     = 1.2  // Zipf exponent of user activity
	itemExponent     = 1.05 // Zipf exponent of item popularity within a category
	categoryExponent = 1.1  // Zipf exponent of category popularity
	itemsPerCategory = 50
	favouriteShare   = 0.8  // share of a user's events in their favourite categories
	basketShare      = 0.01 // of events, basket adds
	purchaseShare    = 0.01 // of events, purchases
)

// Action codes in the seed system's export: 1 browsed, 2 basket, 3 purchased.
const (
	Browsed   = 1
	Basket    = 2
	Purchased = 3
)

// Header is the CSV header Write emits: the seed's columns plus a time.
const Header = "user,productSku,type,time"

// Write writes cfg.Interactions CSV rows (with Header) to w.
func Write(w io.Writer, cfg Config) error {
	if cfg.Interactions <= 0 || cfg.Items < itemsPerCategory {
		return fmt.Errorf("synth: want Interactions > 0 and Items >= %d", itemsPerCategory)
	}
	if cfg.Users == 0 {
		cfg.Users = max(1, cfg.Interactions/10)
	}
	if cfg.Days == 0 {
		cfg.Days = 30
	}
	if cfg.Start == 0 {
		cfg.Start = 1569888000 // 2019-10-01T00:00:00Z
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	categories := cfg.Items / itemsPerCategory
	users := rand.NewZipf(r, userExponent, 1, uint64(cfg.Users-1))
	cats := rand.NewZipf(r, categoryExponent, 1, uint64(categories-1))
	inCat := rand.NewZipf(r, itemExponent, 1, itemsPerCategory-1)
	// A user's favourite categories are a fixed function of the user, so
	// their events cluster as real sessions do.
	favourites := func(u uint64) [2]uint64 {
		ur := rand.New(rand.NewPCG(cfg.Seed^u, 0xfa7))
		f := rand.NewZipf(ur, categoryExponent, 1, uint64(categories-1))
		return [2]uint64{f.Uint64(), f.Uint64()}
	}
	// Item ids are a scrambled bijection of (category, rank), so an item's
	// popularity cannot be read off its id.
	scramble := func(c, k uint64) uint64 {
		id := c*itemsPerCategory + k
		return (id*2654435761 + 12345) % uint64(categories*itemsPerCategory)
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, Header)
	span := int64(cfg.Days) * 86400
	for n := 0; n < cfg.Interactions; n++ {
		u := users.Uint64()
		c := cats.Uint64()
		if r.Float64() < favouriteShare {
			c = favourites(u)[r.IntN(2)]
		}
		item := scramble(c, inCat.Uint64())
		action := Browsed
		switch x := r.Float64(); {
		case x < purchaseShare:
			action = Purchased
		case x < purchaseShare+basketShare:
			action = Basket
		}
		t := cfg.Start + r.Int64N(span)
		fmt.Fprintf(bw, "u%d,p%d,%d,%d\n", u, item, action, t)
	}
	return bw.Flush()
}
