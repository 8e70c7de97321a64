package testlogs

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Rating is one line of MovieLens: a user's rating (1 to 5) of a movie,
// and its time (unix seconds).
type Rating struct {
	User, Item string
	Value      float64
	Time       int64
}

// MovieLensPath is MovieLens 100K's u.data in the shared datasets beside
// the module (../shared/datasets).
func MovieLensPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../../../shared/datasets/ml-100k/u.data")
}

// MovieLens reads MovieLens 100K's 100,000 ratings, in the file's order,
// or skips the test when the shared datasets are absent.
func MovieLens(tb testing.TB) []Rating {
	tb.Helper()
	f, err := os.Open(MovieLensPath())
	if err != nil {
		tb.Skipf("MovieLens 100K not found (../shared/datasets/ml-100k/u.data): %v", err)
	}
	defer f.Close()
	var rs []Rating
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 4 {
			tb.Fatalf("u.data line %q: want 4 tab-separated fields", sc.Text())
		}
		v, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			tb.Fatalf("u.data line %q: %v", sc.Text(), err)
		}
		at, err := strconv.ParseInt(fields[3], 10, 64)
		if err != nil {
			tb.Fatalf("u.data line %q: %v", sc.Text(), err)
		}
		rs = append(rs, Rating{User: fields[0], Item: fields[1], Value: v, Time: at})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rs
}
