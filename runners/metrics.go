package runners

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
)

// Counters sums each counter of a run over its steps, by namespace/name.
func Counters(q metrics.QueryResults) map[string]int64 {
	sums := map[string]int64{}
	for _, c := range q.Counters() {
		sums[c.Key.Namespace+"/"+c.Key.Name] += c.Result()
	}
	return sums
}

// PrintCounters prints a run's counters summed over steps, sorted by name.
func PrintCounters(w io.Writer, q metrics.QueryResults) {
	sums := Counters(q)
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "counters:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-36s %d\n", n, sums[n])
	}
}

// PrintStart prints to w, on one line, that job starts on the current
// runner with the effective configuration c (defaults resolved), as JSON.
func PrintStart(w io.Writer, job string, c any) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: starting on %s with %s\n", job, Current(), b)
	return nil
}
