package dimsum

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/transforms/scoring"
)

func init() {
	register.Function2x0(rowMax)
	register.Function2x1(maxFloat)
	register.Function2x1(mergeSums)
	register.DoFn4x0[context.Context, scoring.Row, []float64, func(string, exactsum.Sum)](&normFn{})
	register.Function3x0(toItemSq)
	register.Combiner3[tableAcc, itemSq, ItemTable](&tableFn{})
	register.DoFn4x0[context.Context, ItemTable, []float64, func(ItemTable)](&scaleFn{})
	register.DoFn4x0[context.Context, scoring.Row, []ItemTable, func(int64, PartialRow)](&pairsFn{})
	register.DoFn4x0[context.Context, int64, func(*PartialRow) bool, func(int64, Row)](&mergeFn{})
	register.Emitter1[float64]()
	register.Emitter2[string, exactsum.Sum]()
	register.Emitter1[itemSq]()
	register.Emitter1[ItemTable]()
	register.Emitter2[int64, PartialRow]()
	register.Emitter2[int64, Row]()
	register.Iter1[PartialRow]()
}

// DefaultMaxPendingPairs is the default flush budget. Only entries are
// buffered (memory grows with them, not with pairs), and every flush ships
// the pairs it summed, so flushing rarely means more pairs summed inside
// the worker and fewer shuffled.
const DefaultMaxPendingPairs = 64_000_000

// Config holds DIMSUM's knobs.
type Config struct {
	// Threshold is the similarity above which estimates are guaranteed
	// accurate; 0 computes every pair exactly.
	Threshold float64
	// Seed fixes the sampling.
	Seed uint64
	// MaxPendingPairs bounds the pairs a worker buffers before it sums and
	// emits them; 0 means DefaultMaxPendingPairs.
	MaxPendingPairs int
}

// Validate checks the threshold.
func (c Config) Validate() error {
	if !(c.Threshold >= 0 && c.Threshold <= 1) {
		return fmt.Errorf("--threshold=%v: want a number in [0, 1] (0 = exact)", c.Threshold)
	}
	if c.MaxPendingPairs < 0 {
		return fmt.Errorf("MaxPendingPairs must be >= 0")
	}
	return nil
}

// Table computes the item dictionary of a PCollection<scoring.Row>: the
// scale B (the largest score), and each item's column norm after scaling.
// It returns a PCollection holding a single ItemTable (none when there are
// no rows).
func Table(s beam.Scope, rows beam.PCollection) beam.PCollection {
	s = s.Scope("dimsum.Table")
	scale := beam.Combine(s, maxFloat, beam.ParDo(s, rowMax, rows))
	squares := beam.ParDo(s, &normFn{}, rows, beam.SideInput{Input: scale})
	sums := beam.CombinePerKey(s, mergeSums, squares)
	table := beam.Combine(s, &tableFn{}, beam.ParDo(s, toItemSq, sums))
	return beam.ParDo(s, &scaleFn{}, table, beam.SideInput{Input: scale})
}

// Similarities estimates the cosine of every item pair that co-occurs in a
// user's row. rows is a PCollection<scoring.Row>, table the output of
// Table. It returns a PCollection<KV<int64, Row>>: per item id i, the pairs
// (i, j > i) with their estimates. Counters: dimsum/pairs_emitted,
// dimsum/entries_kept, dimsum/entries_dropped, dimsum/partial_rows and
// dimsum/partial_bytes (what crosses the shuffle), dimsum/distinct_pairs.
func Similarities(s beam.Scope, c Config, rows, table beam.PCollection) beam.PCollection {
	s = s.Scope("dimsum.Similarities")
	partial := beam.ParDo(s, &pairsFn{Threshold: c.Threshold, Seed: c.Seed, MaxPendingPairs: c.MaxPendingPairs},
		rows, beam.SideInput{Input: table})
	return beam.ParDo(s, &mergeFn{}, beam.GroupByKey(s, partial))
}

func rowMax(r scoring.Row, emit func(float64)) { emit(slices.Max(r.Scores)) }

func maxFloat(a, b float64) float64 { return math.Max(a, b) }

func mergeSums(a, b exactsum.Sum) exactsum.Sum {
	a.Merge(b)
	return a
}

// normFn adds each item's squared scaled scores over the bundle's rows and
// emits one partial sum per item per bundle, not one per entry.
type normFn struct {
	sums map[string]*exactsum.Sum
}

func (f *normFn) StartBundle(_ context.Context, _ []float64, _ func(string, exactsum.Sum)) {
	f.sums = map[string]*exactsum.Sum{}
}

func (f *normFn) ProcessElement(_ context.Context, r scoring.Row, scale []float64, _ func(string, exactsum.Sum)) {
	for k, item := range r.Items {
		sum := f.sums[item]
		if sum == nil {
			sum = &exactsum.Sum{}
			f.sums[item] = sum
		}
		a := r.Scores[k] / scale[0]
		sum.Add(a * a)
	}
}

func (f *normFn) FinishBundle(_ context.Context, _ []float64, emit func(string, exactsum.Sum)) {
	for item, sum := range f.sums {
		emit(item, *sum)
	}
}

type itemSq struct {
	Item  string
	SumSq exactsum.Sum
}

func toItemSq(item string, sum exactsum.Sum, emit func(itemSq)) { emit(itemSq{Item: item, SumSq: sum}) }

type tableAcc struct {
	Items []itemSq
}

// tableFn gathers every item's squared norm into the sorted ItemTable.
type tableFn struct{}

func (tableFn) CreateAccumulator() tableAcc { return tableAcc{} }

func (tableFn) AddInput(a tableAcc, in itemSq) tableAcc {
	a.Items = append(a.Items, in)
	return a
}

func (tableFn) MergeAccumulators(a, b tableAcc) tableAcc {
	a.Items = append(a.Items, b.Items...)
	return a
}

func (tableFn) ExtractOutput(a tableAcc) ItemTable {
	slices.SortFunc(a.Items, func(x, y itemSq) int {
		if x.Item < y.Item {
			return -1
		}
		if x.Item > y.Item {
			return 1
		}
		return 0
	})
	t := ItemTable{Items: make([]string, len(a.Items)), Norms: make([]float64, len(a.Items))}
	for i, it := range a.Items {
		t.Items[i], t.Norms[i] = it.Item, math.Sqrt(it.SumSq.Float64())
	}
	return t
}

// ScaleGauge names the gauge that reports the scale B, as the bits of the
// float64 (math.Float64bits), since gauges hold integers.
const ScaleGauge = "dimsum/scale_bits"

// scaleFn stamps the scale B on the table and reports it.
type scaleFn struct{}

func (scaleFn) ProcessElement(ctx context.Context, t ItemTable, scale []float64, emit func(ItemTable)) {
	t.Scale = scale[0]
	ns, name, _ := strings.Cut(ScaleGauge, "/")
	beam.NewGauge(ns, name).Set(ctx, int64(math.Float64bits(t.Scale)))
	beam.NewCounter("dimsum", "items").Inc(ctx, int64(len(t.Items)))
	emit(t)
}

// pairsFn samples each user's entries and accumulates pair sums inside the
// bundle, emitting one PartialRow per item whenever MaxPendingPairs pairs are
// buffered and at the end of the bundle.
type pairsFn struct {
	Threshold       float64
	Seed            uint64
	MaxPendingPairs int

	table  *ItemTable // the table the fields below were built from
	index  map[string]int32
	params Params
	acc    *Accumulator
	all    []int32
	ids    []int32
	vals   []float64

	emitted, kept, dropped, rows, bytes int64
}

// prepare builds the lookups once per DoFn instance: the table is the same
// for every bundle of a run, only decoded anew.
func (f *pairsFn) prepare(tables []ItemTable) {
	if len(tables) == 0 {
		return
	}
	t := &tables[0]
	if f.table != nil && len(f.table.Items) == len(t.Items) && f.table.Scale == t.Scale {
		return
	}
	f.table = t
	f.index = make(map[string]int32, len(t.Items))
	for i, item := range t.Items {
		f.index[item] = int32(i)
	}
	f.params = NewParams(*t, f.Threshold)
	f.acc = NewAccumulator(len(t.Items))
}

func (f *pairsFn) StartBundle(_ context.Context, tables []ItemTable, _ func(int64, PartialRow)) {
	f.prepare(tables)
	f.emitted, f.kept, f.dropped, f.rows, f.bytes = 0, 0, 0, 0, 0
}

func (f *pairsFn) ProcessElement(_ context.Context, r scoring.Row, tables []ItemTable, emit func(int64, PartialRow)) {
	f.prepare(tables)
	f.all = f.all[:0]
	for _, item := range r.Items {
		i, ok := f.index[item]
		if !ok {
			panic(fmt.Sprintf("dimsum: item %q of user %q is not in the item table", item, r.User))
		}
		f.all = append(f.all, i)
	}
	f.ids, f.vals = f.params.Sample(f.Seed, r.User, r.Items, f.all, r.Scores, f.ids[:0], f.vals[:0])
	f.kept += int64(len(f.ids))
	f.dropped += int64(len(f.all) - len(f.ids))
	f.emitted += int64(f.acc.Add(f.ids, f.vals))
	limit := f.MaxPendingPairs
	if limit == 0 {
		limit = DefaultMaxPendingPairs
	}
	if f.acc.Pending() >= limit {
		f.flush(emit)
	}
}

func (f *pairsFn) flush(emit func(int64, PartialRow)) {
	f.acc.Flush(func(i int32, row PartialRow) {
		f.rows++
		f.bytes += int64(EncodedSize(row))
		emit(int64(i), row)
	})
}

func (f *pairsFn) FinishBundle(ctx context.Context, _ []ItemTable, emit func(int64, PartialRow)) {
	if f.acc != nil {
		f.flush(emit)
	}
	beam.NewCounter("dimsum", "pairs_emitted").Inc(ctx, f.emitted)
	beam.NewCounter("dimsum", "entries_kept").Inc(ctx, f.kept)
	beam.NewCounter("dimsum", "entries_dropped").Inc(ctx, f.dropped)
	beam.NewCounter("dimsum", "partial_rows").Inc(ctx, f.rows)
	beam.NewCounter("dimsum", "partial_bytes").Inc(ctx, f.bytes)
}

// mergeFn sums an item's partial rows into its final row.
type mergeFn struct {
	merger   Merger
	distinct int64
}

func (f *mergeFn) StartBundle(_ context.Context, _ func(int64, Row)) { f.distinct = 0 }

func (f *mergeFn) ProcessElement(_ context.Context, i int64, parts func(*PartialRow) bool, emit func(int64, Row)) {
	row := f.merger.Merge(parts)
	f.distinct += int64(len(row.J))
	emit(i, row)
}

func (f *mergeFn) FinishBundle(ctx context.Context, _ func(int64, Row)) {
	beam.NewCounter("dimsum", "distinct_pairs").Inc(ctx, f.distinct)
}
