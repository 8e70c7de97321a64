package model

// FloorDiv is ⌊a/b⌋ for b > 0, also for negative a: a time before 1970
// falls in the second, slice or bucket it is in (Go's / rounds toward 0).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
