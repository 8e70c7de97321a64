package interactions

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn6x1[context.Context, *sdf.LockRTracker, fileio.ReadableFile, func(Batch), func(DeadLetter), func(Stats), error](&readFn{})
	register.Emitter1[Batch]()
	register.DoFn2x0[Batch, func(Event)](&unbatchFn{})
	register.Emitter1[Event]()
	register.Emitter1[DeadLetter]()
	register.Emitter1[Stats]()
	register.Function2x1(MergeStats)
	register.DoFn3x1[Stats, []int, func(int), error](&gateFn{})
	register.Emitter1[int]()
}

// Stats counts a source's data rows (headers excluded) and the bad ones
// among them, so a run can check its bad-row fraction.
type Stats struct {
	Rows int64
	Bad  int64
}

// MergeStats adds two Stats.
func MergeStats(a, b Stats) Stats { return Stats{Rows: a.Rows + b.Rows, Bad: a.Bad + b.Bad} }

// Result holds what a source produced: Batches (Batch), Dead (DeadLetter)
// and Stats (a single Stats for the whole input).
type Result struct {
	Batches beam.PCollection
	Dead    beam.PCollection
	Stats   beam.PCollection
}

// Batch is up to BatchSize events of one bundle. Sources emit batches, not
// single events: a runner's cost per element (Prism: microseconds) is many
// times the cost of parsing a line.
type Batch struct {
	Events []Event
}

// BatchSize is the most events a source puts in one Batch.
const BatchSize = 4096

// Unbatch turns a PCollection<Batch> into a PCollection<Event>, for
// consumers that want one element per event.
func Unbatch(s beam.Scope, batches beam.PCollection) beam.PCollection {
	return beam.ParDo(s.Scope("interactions.Unbatch"), &unbatchFn{}, batches)
}

type unbatchFn struct{}

func (unbatchFn) ProcessElement(b Batch, emit func(Event)) {
	for _, e := range b.Events {
		emit(e)
	}
}

// Files lists the files a glob (local or gs://) matches, sorted, or fails
// with an error that names the glob when there are none.
func Files(ctx context.Context, glob string) ([]string, error) {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("--input=%s: %v", glob, err)
	}
	defer fs.Close()
	files, err := fs.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("--input=%s: listing files: %v", glob, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("--input=%s matches no file: check the path", glob)
	}
	sort.Strings(files)
	return files, nil
}

// firstLine reads a file's first line, without its line break.
func firstLine(ctx context.Context, file string) (string, error) {
	fs, err := filesystem.New(ctx, file)
	if err != nil {
		return "", err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, file)
	if err != nil {
		return "", fmt.Errorf("opening %s: %v", file, err)
	}
	defer r.Close()
	var rd io.Reader = r
	if gzipped(file) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return "", fmt.Errorf("reading the header of %s: %v", file, err)
		}
		defer gz.Close()
		rd = gz
	}
	line, err := bufio.NewReader(rd).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the header of %s: %v", file, err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(line, "\ufeff"), "\n"), "\r"), nil
}

// Read reads every file the glob matches under the spec. It checks up front
// what would make the whole run fail (no file, unresolvable fields, files
// whose headers differ) and returns an error that says what to fix; bad
// lines go to Result.Dead with a reason and to the counters
// interactions/bad_<reason>.
func Read(s beam.Scope, glob string, spec Spec) (Result, error) {
	s = s.Scope("interactions.Read")
	ctx := context.Background()
	files, err := Files(ctx, glob)
	if err != nil {
		return Result{}, err
	}
	fn := &readFn{Spec: spec}
	if spec.Header && spec.Format != FormatJSONL {
		for _, f := range files {
			line, err := firstLine(ctx, f)
			if err != nil {
				return Result{}, err
			}
			if f == files[0] {
				fn.HeaderLine = line
			} else if line != fn.HeaderLine {
				return Result{}, fmt.Errorf("--header: %s starts with %q but %s with %q: files of one input must share their header", files[0], fn.HeaderLine, f, line)
			}
		}
		if fn.Header, err = spec.SplitHeader(fn.HeaderLine); err != nil {
			return Result{}, fmt.Errorf("%s: %v", files[0], err)
		}
	}
	if _, err := NewParser(spec, fn.Header); err != nil {
		return Result{}, fmt.Errorf("--input=%s: %v", glob, err)
	}
	matched := fileio.ReadMatches(s, fileio.MatchFiles(s, glob))
	batches, dead, stats := beam.ParDo3(s, fn, matched)
	return Result{Batches: batches, Dead: dead, Stats: beam.Combine(s, MergeStats, stats)}, nil
}

// readFn is a splittable DoFn over files, like textio's: it reads the lines
// that start in its byte range, but parses them itself and emits batches
// (of up to BatchSize events: a block's lines less its bad and header
// lines), so no element per line ever exists. Counts are kept per bundle and
// published once in FinishBundle, off the per-line path.
type readFn struct {
	Spec       Spec
	Header     []string
	HeaderLine string
	// SplitSize is the byte range of an initial split; 0 means splitSize.
	SplitSize int64

	parser *Parser
	stats  Stats
	bad    map[string]int64
}

const (
	// splitSize is the byte range of an initial split of an uncompressed
	// file.
	splitSize = 16 << 20
	// unknownEnd ends the range of a compressed file, whose decompressed
	// size is unknown; far below MaxInt64, where the tracker's arithmetic
	// would overflow.
	unknownEnd = math.MaxInt64 / 2
)

func (f *readFn) Setup() error {
	var err error
	f.parser, err = NewParser(f.Spec, f.Header)
	return err
}

// gzipped reports whether a file is read through gzip: fileio decompresses
// by extension. Its offsets (in decompressed bytes) are not bounded by the
// file size.
func gzipped(path string) bool { return strings.HasSuffix(path, ".gz") }

func (f *readFn) CreateInitialRestriction(file fileio.ReadableFile) offsetrange.Restriction {
	if gzipped(file.Metadata.Path) {
		return offsetrange.Restriction{Start: 0, End: unknownEnd}
	}
	return offsetrange.Restriction{Start: 0, End: file.Metadata.Size}
}

func (f *readFn) SplitRestriction(file fileio.ReadableFile, rest offsetrange.Restriction) []offsetrange.Restriction {
	if gzipped(file.Metadata.Path) {
		return []offsetrange.Restriction{rest}
	}
	size := f.SplitSize
	if size == 0 {
		size = splitSize
	}
	splits := rest.SizedSplits(size)
	if n := len(splits); n > 1 && splits[n-1].Size() < float64(size/4) {
		splits[n-2].End = splits[n-1].End // no small remainder
		splits = splits[:n-1]
	}
	return splits
}

func (f *readFn) RestrictionSize(_ fileio.ReadableFile, rest offsetrange.Restriction) float64 {
	return rest.Size()
}

func (f *readFn) CreateTracker(rest offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(offsetrange.NewTracker(rest))
}

func (f *readFn) StartBundle(_ context.Context, _ func(Batch), _ func(DeadLetter), _ func(Stats)) {
	f.stats, f.bad = Stats{}, map[string]int64{}
}

// ProcessElement parses every line that starts inside the restriction; the
// line that straddles its start belongs to the previous range. This
// goroutine reads and claims the lines; blocks of BatchSize lines are
// parsed on the machine's cores (Prism runs the read as one bundle) and
// emitted in file order, so the output is the same as a serial parse's.
func (f *readFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, file fileio.ReadableFile, emit func(Batch), dead func(DeadLetter), _ func(Stats)) error {
	rc, err := file.Open(ctx)
	if err != nil {
		return fmt.Errorf("opening %s: %v", file.Metadata.Path, err)
	}
	defer rc.Close()
	rd := bufio.NewReaderSize(rc, 1<<20)
	rest := rt.GetRestriction().(offsetrange.Restriction)
	at := rest.Start
	if at > 0 {
		// Skip to the first line that starts at or after Start. A range
		// past the end (a split of a compressed file's open range) is empty.
		if _, err := rd.Discard(int(at - 1)); err == io.EOF {
			rt.TryClaim(rest.End)
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: seeking to byte %d: %v", file.Metadata.Path, at-1, err)
		}
		skipped, err := rd.ReadString('\n')
		if err == io.EOF {
			rt.TryClaim(rest.End)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %v", file.Metadata.Path, err)
		}
		at += int64(len(skipped)) - 1
	}
	p := f.startParsing(file.Metadata.Path, emit, dead)
	defer p.stop()
	lines := make([]string, 0, BatchSize)
	for rt.TryClaim(at) {
		line, err := rd.ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading %s: %v", file.Metadata.Path, err)
		}
		at += int64(len(line))
		if line != "" {
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
		if len(lines) == BatchSize {
			p.submit(lines)
			lines = make([]string, 0, BatchSize)
		}
		if err == io.EOF {
			rt.TryClaim(rest.End) // done: claim the rest of the range
			break
		}
	}
	p.submit(lines)
	p.drain()
	return nil
}

// block is a run of lines and what parsing them gave.
type block struct {
	lines []string
	batch Batch
	dead  []DeadLetter
	stats Stats
	bad   map[string]int64
	done  chan struct{}
}

// parsing is a ProcessElement call's parse goroutines and its blocks in
// flight, oldest first.
type parsing struct {
	f        *readFn
	file     string
	emit     func(Batch)
	dead     func(DeadLetter)
	workers  int
	jobs     chan *block
	inFlight []*block
	wg       sync.WaitGroup
}

func (f *readFn) startParsing(file string, emit func(Batch), dead func(DeadLetter)) *parsing {
	p := &parsing{f: f, file: file, emit: emit, dead: dead, workers: runtime.GOMAXPROCS(0), jobs: make(chan *block)}
	for range p.workers {
		p.wg.Go(func() {
			for b := range p.jobs {
				f.parse(file, b)
			}
		})
	}
	return p
}

// submit hands lines to the parse goroutines, and delivers the oldest
// block once a few are in flight, which bounds the lines held.
func (p *parsing) submit(lines []string) {
	if len(lines) == 0 {
		return
	}
	b := &block{lines: lines, done: make(chan struct{})}
	p.jobs <- b
	p.inFlight = append(p.inFlight, b)
	if len(p.inFlight) > 2*p.workers {
		p.deliver()
	}
}

// deliver waits for the oldest block and emits its batch and dead letters
// on the bundle's goroutine.
func (p *parsing) deliver() {
	b := p.inFlight[0]
	p.inFlight = p.inFlight[1:]
	<-b.done
	for _, d := range b.dead {
		p.dead(d)
	}
	p.f.stats.Rows += b.stats.Rows
	p.f.stats.Bad += b.stats.Bad
	for reason, n := range b.bad {
		p.f.bad[reason] += n
	}
	if len(b.batch.Events) > 0 {
		p.emit(b.batch)
	}
}

// drain delivers every block in flight.
func (p *parsing) drain() {
	for len(p.inFlight) > 0 {
		p.deliver()
	}
}

// stop ends the parse goroutines; blocks not delivered are dropped (the
// read failed).
func (p *parsing) stop() {
	close(p.jobs)
	p.wg.Wait()
}

// parse turns a block's lines into its batch or dead letters; header lines
// (any file's) are skipped.
func (f *readFn) parse(file string, b *block) {
	b.batch = Batch{Events: make([]Event, 0, len(b.lines))}
	for _, line := range b.lines {
		if f.HeaderLine != "" && strings.TrimSuffix(strings.TrimPrefix(line, "\ufeff"), "\r") == f.HeaderLine {
			continue
		}
		b.stats.Rows++
		e, reason := f.parser.Parse(line)
		if reason != "" {
			b.stats.Bad++
			if b.bad == nil {
				b.bad = map[string]int64{}
			}
			b.bad[reason]++
			b.dead = append(b.dead, DeadLetter{Reason: reason, File: file, Line: line})
			continue
		}
		b.batch.Events = append(b.batch.Events, e)
	}
	close(b.done)
}

func (f *readFn) FinishBundle(ctx context.Context, _ func(Batch), _ func(DeadLetter), emitStats func(Stats)) {
	beam.NewCounter("interactions", "rows").Inc(ctx, f.stats.Rows)
	for reason, n := range f.bad {
		beam.NewCounter("interactions", "bad_"+reason).Inc(ctx, n)
	}
	emitStats(f.stats)
}

// Gate fails the pipeline when the bad rows' share of stats (Read's single
// Stats) exceeds maxBad, with a message that points at the dead letter. It
// runs after every PCollection<int> in after (e.g. the dead letter's write),
// and returns a PCollection<int> to order the outputs after the check.
func Gate(s beam.Scope, stats beam.PCollection, maxBad float64, deadLetter string, after ...beam.PCollection) beam.PCollection {
	s = s.Scope("interactions.Gate")
	deps := beam.CreateList(s, []int{})
	if len(after) > 0 {
		deps = beam.Flatten(s, append(after, deps)...)
	}
	return beam.ParDo(s, &gateFn{MaxBad: maxBad, DeadLetter: deadLetter}, stats, beam.SideInput{Input: deps})
}

type gateFn struct {
	MaxBad     float64
	DeadLetter string
}

func (f *gateFn) ProcessElement(st Stats, _ []int, emit func(int)) error {
	if err := CheckBadFraction(st, f.MaxBad); err != nil {
		return fmt.Errorf("%v; the bad rows and their reasons are in %s", err, f.DeadLetter)
	}
	emit(0)
	return nil
}

// CheckBadFraction returns an error when more than maxBad of the rows are
// bad.
func CheckBadFraction(st Stats, maxBad float64) error {
	if st.Rows > 0 && float64(st.Bad) > maxBad*float64(st.Rows) {
		return fmt.Errorf("%d of %d rows (%.2f%%) are bad, above --max_bad_fraction=%g: fix the input or the field flags, or raise the limit",
			st.Bad, st.Rows, 100*float64(st.Bad)/float64(st.Rows), maxBad)
	}
	return nil
}
