// Package gtest is the textbook G-test of a 2×2 contingency table, for
// tests: a reference for the log-likelihood ratio that shares no code with
// package model's Mahout-style computation.
package gtest

import "math"

// G is Dunning's G² = 2·Σ k·ln(k/E) over the cells of the table
// [[k11, k12], [k21, k22]], E = row·col/n the cell's expected count.
func G(k11, k12, k21, k22 float64) float64 {
	k := [2][2]float64{{k11, k12}, {k21, k22}}
	n := k11 + k12 + k21 + k22
	row := [2]float64{k11 + k12, k21 + k22}
	col := [2]float64{k11 + k21, k12 + k22}
	g := 0.0
	for x := range 2 {
		for y := range 2 {
			if k[x][y] > 0 {
				g += k[x][y] * math.Log(k[x][y]*n/(row[x]*col[y]))
			}
		}
	}
	return 2 * g
}
