package dimsum

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/parallel"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/scoring"
)

func init() {
	register.DoFn3x0[context.Context, scoring.Shard, func(itemSquares)](&normFn{})
	register.Combiner3[itemSquares, itemSquares, ItemTable](&tableFn{})
	register.DoFn3x0[context.Context, ItemTable, func(ItemTable)](&scaleFn{})
	register.DoFn4x0[context.Context, scoring.Shard, []ItemTable, func(int64, PartialBlock)](&pairsFn{})
	register.DoFn5x0[context.Context, int64, func(*PartialBlock) bool, []ItemTable, func(int64, Row)](&mergeFn{})
	register.Emitter1[itemSquares]()
	register.Emitter1[ItemTable]()
	register.Emitter2[int64, PartialBlock]()
	register.Emitter2[int64, Row]()
	register.Iter1[PartialBlock]()
}

// DefaultShards is the default number of item shards: enough for the
// merge to spread over many workers, few enough that each flush ships a
// few large elements.
const DefaultShards = 256

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
	// Shards is the number of item shards the pair sums are grouped by;
	// 0 means DefaultShards.
	Shards int
	// Goroutines is the number of goroutines a worker sums pairs on, in a
	// flush and in the final merge; each holds a dense array of the item
	// count. 0 means DefaultGoroutines() of the worker's machine.
	Goroutines int
	// Similarity is the measure the pairs are scored by; the zero value
	// means model.DefaultSimilarity() (cosine).
	Similarity model.Similarity
}

// similarity resolves the zero value to cosine.
func (c Config) similarity() model.Similarity { return c.Similarity.OrDefault() }

// DefaultGoroutines is the machine's cores, at most 4: Prism runs a stage
// as one bundle, so a flush is the only way it uses a second core, while
// runners that run a bundle per core gain nothing from more.
func DefaultGoroutines() int { return min(runtime.GOMAXPROCS(0), 4) }

// goroutines resolves a configured count on the worker (0: the worker's
// default, not the launching machine's).
func goroutines(configured int) int {
	if configured > 0 {
		return configured
	}
	return DefaultGoroutines()
}

// PartialBlock is a flush's partial rows of one shard of items (item id
// modulo the shard count, which spreads the long rows of small ids):
// Rows[k] belongs to item Items[k].
type PartialBlock struct {
	Items []int32
	Rows  []PartialRow
}

// Validate checks the threshold.
func (c Config) Validate() error {
	if !(c.Threshold >= 0 && c.Threshold <= 1) {
		return fmt.Errorf("--threshold=%v: want a number in [0, 1] (0 = exact)", c.Threshold)
	}
	if c.MaxPendingPairs < 0 {
		return fmt.Errorf("MaxPendingPairs must be >= 0")
	}
	if c.Shards < 0 {
		return fmt.Errorf("--shards must be >= 0 (0 means %d)", DefaultShards)
	}
	if c.Goroutines < 0 {
		return fmt.Errorf("--sum_goroutines must be >= 0 (0 means the cores, at most 4)")
	}
	return c.similarity().Validate(c.Threshold)
}

// Table computes the item dictionary of rows, a PCollection<model.Row>
// or of scoring.Shard batches of rows (see scoring.Batches): the scale B,
// and each item's column norm. The norms and the largest score are found
// in one pass, in the same stage as the rows are made (no side input, so
// runners fuse the step). bound > 0 says every score is at most bound (the
// scoring clip): B is bound; otherwise B is the largest score. It returns
// a PCollection holding a single ItemTable. Counters: dimsum/items,
// dimsum/zero_norm_items.
func Table(s beam.Scope, rows beam.PCollection, bound float64) beam.PCollection {
	s = s.Scope("dimsum.Table")
	rows = scoring.Batches(s, rows)
	table := beam.Combine(s, &tableFn{}, beam.ParDo(s, &normFn{}, rows))
	return beam.ParDo(s, &scaleFn{Bound: bound}, table)
}

// Similarities estimates the cosine of every item pair that co-occurs in a
// user's row. rows is a PCollection<model.Row> or of scoring.Shard
// batches of rows, table the output of Table. It returns a PCollection<KV<int64, Row>>: per item id i, the pairs
// (i, j > i) with their estimates. Counters: dimsum/pairs_emitted,
// dimsum/entries_kept, dimsum/entries_dropped, dimsum/partial_rows and
// dimsum/partial_bytes (what crosses the shuffle), dimsum/distinct_pairs.
func Similarities(s beam.Scope, c Config, rows, table beam.PCollection) beam.PCollection {
	s = s.Scope("dimsum.Similarities")
	rows = scoring.Batches(s, rows)
	shards := c.Shards
	if shards == 0 {
		shards = DefaultShards
	}
	partial := beam.ParDo(s, &pairsFn{Threshold: c.Threshold, Seed: c.Seed, MaxPendingPairs: c.MaxPendingPairs, Shards: shards,
		Goroutines: c.Goroutines, Similarity: c.Similarity},
		rows, beam.SideInput{Input: table})
	// The merge divides each pair's sum by its items' residual divisors
	// and scores it from the margins, so it reads the table too.
	return beam.ParDo(s, &mergeFn{Threshold: c.Threshold, Goroutines: c.Goroutines, Similarity: c.Similarity}, beam.GroupByKey(s, partial),
		beam.SideInput{Input: table})
}

// normFn adds each item's exact squared scores over a bundle's rows, and
// finds their largest score, and emits them all as one element per bundle,
// not one per entry or item.
type normFn struct {
	sums    map[string]*itemSq
	largest float64
	users   int64
}

func (f *normFn) StartBundle(_ context.Context, _ func(itemSquares)) {
	f.sums, f.largest, f.users = map[string]*itemSq{}, 0, 0
}

func (f *normFn) ProcessElement(_ context.Context, sh scoring.Shard, _ func(itemSquares)) {
	for _, r := range sh.Rows {
		f.users++
		for k, item := range r.Items {
			sq := f.sums[item]
			if sq == nil {
				sq = &itemSq{Item: item}
				f.sums[item] = sq
			}
			sq.SumSq.AddProduct(r.Scores[k], r.Scores[k])
			sq.Sum.Add(r.Scores[k])
			sq.Count++
			f.largest = math.Max(f.largest, r.Scores[k])
		}
	}
}

func (f *normFn) FinishBundle(_ context.Context, emit func(itemSquares)) {
	out := itemSquares{Max: f.largest, Users: f.users, Items: make([]itemSq, 0, len(f.sums))}
	for _, sq := range f.sums {
		out.Items = append(out.Items, *sq)
	}
	f.sums = nil
	emit(out)
}

// itemSq is some rows' partial sums of one item: of its squared scores,
// of its scores, and its users.
type itemSq struct {
	Item  string
	SumSq exactsum.Sum
	Sum   exactsum.Sum
	Count int64
}

// itemSquares is some rows' largest score, their number, and their items'
// partial sums; an item may appear in several.
type itemSquares struct {
	Max   float64
	Users int64
	Items []itemSq
}

// tableFn gathers the partial sums of squares and, at the end, adds each
// item's (exact sums: the order does not matter) into the sorted ItemTable.
type tableFn struct{}

func (tableFn) CreateAccumulator() itemSquares { return itemSquares{} }

func (tableFn) AddInput(a, in itemSquares) itemSquares {
	a.Max = math.Max(a.Max, in.Max)
	a.Users += in.Users
	a.Items = append(a.Items, in.Items...)
	return a
}

func (t tableFn) MergeAccumulators(a, b itemSquares) itemSquares { return t.AddInput(a, b) }

func (tableFn) ExtractOutput(a itemSquares) ItemTable {
	slices.SortFunc(a.Items, func(x, y itemSq) int { return strings.Compare(x.Item, y.Item) })
	t := ItemTable{Scale: a.Max, Users: a.Users} // the largest score; scaleFn may replace it by a bound
	for k := 0; k < len(a.Items); {
		sq := a.Items[k]
		j := k + 1
		for ; j < len(a.Items) && a.Items[j].Item == sq.Item; j++ {
			sq.SumSq.Merge(a.Items[j].SumSq)
			sq.Sum.Merge(a.Items[j].Sum)
			sq.Count += a.Items[j].Count
		}
		t.Items = append(t.Items, sq.Item)
		t.Norms = append(t.Norms, sq.SumSq.Sqrt())
		t.Totals = append(t.Totals, sq.Sum.Float64())
		t.Counts = append(t.Counts, sq.Count)
		k = j
	}
	return t
}

// ScaleGauge names the gauge that reports the scale B, as the bits of the
// float64 (math.Float64bits), since gauges hold integers.
const ScaleGauge = "dimsum/scale_bits"

// stampScale sets the scale B of the table and reports it.
func stampScale(ctx context.Context, t ItemTable, scale float64) ItemTable {
	t.Scale = scale
	ns, name, _ := strings.Cut(ScaleGauge, "/")
	beam.NewGauge(ns, name).Set(ctx, int64(math.Float64bits(t.Scale)))
	beam.NewCounter("dimsum", "items").Inc(ctx, int64(len(t.Items)))
	zero := 0
	for _, norm := range t.Norms {
		if !usableNorm(norm) {
			zero++
		}
	}
	beam.NewCounter("dimsum", "zero_norm_items").Inc(ctx, int64(zero))
	return t
}

// scaleFn stamps the scale: Bound when one is known before the run (the
// scoring clip), else the largest score the table's combine found.
type scaleFn struct{ Bound float64 }

func (f *scaleFn) ProcessElement(ctx context.Context, t ItemTable, emit func(ItemTable)) {
	scale := t.Scale
	if f.Bound > 0 {
		scale = f.Bound
	}
	emit(stampScale(ctx, t, scale))
}

// pairsFn samples each user's entries and accumulates pair sums inside the
// bundle, emitting one PartialBlock per item shard whenever MaxPendingPairs
// pairs are buffered and at the end of the bundle.
type pairsFn struct {
	Threshold       float64
	Seed            uint64
	MaxPendingPairs int
	Shards          int
	Goroutines      int
	Similarity      model.Similarity

	table  *ItemTable // the table the fields below were built from
	index  map[string]int32
	params Params
	acc    *Accumulator
	all    []int32
	ids    []int32
	vals   []float64
	blocks []PartialBlock

	emitted, kept, dropped, rows, bytes int64
}

// prepare builds the lookups once per DoFn instance: the table is the same
// for every bundle of a run, only decoded anew.
func (f *pairsFn) prepare(tables []ItemTable) {
	t := newTable(f.table, tables)
	if t == nil {
		return
	}
	f.table, f.index = t, t.Index()
	c := Config{Threshold: f.Threshold, Similarity: f.Similarity}
	f.params = c.Params(t)
	f.acc = NewAccumulator(len(t.Items), goroutines(f.Goroutines), c.similarity().Measure, c.similarity().NeedsPairCounts())
}

func (f *pairsFn) StartBundle(_ context.Context, tables []ItemTable, _ func(int64, PartialBlock)) {
	f.prepare(tables)
	f.emitted, f.kept, f.dropped, f.rows, f.bytes = 0, 0, 0, 0, 0
}

func (f *pairsFn) ProcessElement(_ context.Context, sh scoring.Shard, tables []ItemTable, emit func(int64, PartialBlock)) {
	f.prepare(tables)
	for _, r := range sh.Rows {
		f.addRow(r, emit)
	}
}

// addRow samples one user's entries into the accumulator.
func (f *pairsFn) addRow(r model.Row, emit func(int64, PartialBlock)) {
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

func (f *pairsFn) flush(emit func(int64, PartialBlock)) {
	if f.blocks == nil {
		f.blocks = make([]PartialBlock, f.Shards)
	}
	n := int32(f.Shards)
	f.acc.Flush(func(i int32, row PartialRow) {
		f.rows++
		f.bytes += int64(EncodedSize(row))
		b := &f.blocks[i%n]
		b.Items = append(b.Items, i)
		b.Rows = append(b.Rows, row)
	})
	for k := range f.blocks {
		if len(f.blocks[k].Items) > 0 {
			emit(int64(k), f.blocks[k])
			f.blocks[k] = PartialBlock{}
		}
	}
}

func (f *pairsFn) FinishBundle(ctx context.Context, _ []ItemTable, emit func(int64, PartialBlock)) {
	if f.acc != nil {
		f.flush(emit)
	}
	beam.NewCounter("dimsum", "pairs_emitted").Inc(ctx, f.emitted)
	beam.NewCounter("dimsum", "entries_kept").Inc(ctx, f.kept)
	beam.NewCounter("dimsum", "entries_dropped").Inc(ctx, f.dropped)
	beam.NewCounter("dimsum", "partial_rows").Inc(ctx, f.rows)
	beam.NewCounter("dimsum", "partial_bytes").Inc(ctx, f.bytes)
}

// mergeFn sums each item's partial rows in a shard into its final row, the
// items on Goroutines goroutines (0: the worker's default), and emits the
// rows in item order.
type mergeFn struct {
	Threshold  float64
	Goroutines int
	Similarity model.Similarity

	table    *ItemTable // the table params were built from
	params   Params
	mergers  []Merger
	parts    []itemPart
	groups   []int // group g is parts[groups[g]:groups[g+1]], one item
	rows     []Row
	distinct int64
}

// itemPart is a partial row and its item.
type itemPart struct {
	i   int32
	row PartialRow
}

// prepare builds the params once per DoFn instance, as pairsFn's.
func (f *mergeFn) prepare(tables []ItemTable) {
	if t := newTable(f.table, tables); t != nil {
		f.table, f.params = t, Config{Threshold: f.Threshold, Similarity: f.Similarity}.Params(t)
	}
}

// newTable returns the side input's table when it is not the one the
// lookups were built from (cached; the table is the same for every bundle
// of a run, only decoded anew), else nil.
func newTable(cached *ItemTable, tables []ItemTable) *ItemTable {
	if len(tables) == 0 {
		return nil
	}
	t := &tables[0]
	if cached != nil && len(cached.Items) == len(t.Items) && cached.Scale == t.Scale {
		return nil
	}
	return t
}

func (f *mergeFn) StartBundle(_ context.Context, _ []ItemTable, _ func(int64, Row)) {
	f.distinct = 0
	if f.mergers == nil {
		f.mergers = make([]Merger, goroutines(f.Goroutines))
	}
}

func (f *mergeFn) ProcessElement(_ context.Context, _ int64, blocks func(*PartialBlock) bool, tables []ItemTable, emit func(int64, Row)) {
	f.prepare(tables)
	f.parts = f.parts[:0]
	var pb PartialBlock
	for blocks(&pb) {
		for k, i := range pb.Items {
			f.parts = append(f.parts, itemPart{i, pb.Rows[k]})
		}
	}
	slices.SortFunc(f.parts, func(a, b itemPart) int { return cmp.Compare(a.i, b.i) })
	f.groups = append(f.groups[:0], 0)
	for k := 1; k <= len(f.parts); k++ {
		if k == len(f.parts) || f.parts[k].i != f.parts[k-1].i {
			f.groups = append(f.groups, k)
		}
	}
	n := len(f.groups) - 1
	f.rows = slices.Grow(f.rows[:0], n)[:n]
	parallel.For(len(f.mergers), n, func(w, g int) {
		next, hi := f.groups[g], f.groups[g+1]
		f.rows[g] = f.mergers[w].Merge(f.params, f.parts[next].i, func(p *PartialRow) bool {
			if next == hi {
				return false
			}
			*p = f.parts[next].row
			next++
			return true
		})
	})
	for g, row := range f.rows {
		f.distinct += int64(len(row.J))
		emit(int64(f.parts[f.groups[g]].i), row)
	}
	clear(f.parts) // drop the rows for the collector
	clear(f.rows)
}

func (f *mergeFn) FinishBundle(ctx context.Context, _ []ItemTable, _ func(int64, Row)) {
	beam.NewCounter("dimsum", "distinct_pairs").Inc(ctx, f.distinct)
}
