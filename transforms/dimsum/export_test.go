package dimsum

import (
	"math/rand/v2"

	"github.com/recsys/itemsim/model"
)

// Test helpers shared with the external pipeline tests.

// RandomRows is randomRows with a fixed generator.
var RandomRows = func(users, items int, density float64) []model.Row {
	return randomRows(rand.New(rand.NewPCG(5, 6)), users, items, density)
}

// BruteCosines is bruteCosines.
var BruteCosines = bruteCosines
