package interactions

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn6x0[context.Context, string, string, func(Event), func(DeadLetter), func(Stats)](&parseFn{})
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

// Result holds what a source produced: Events (Event), Dead (DeadLetter) and
// Stats (a single Stats for the whole input).
type Result struct {
	Events beam.PCollection
	Dead   beam.PCollection
	Stats  beam.PCollection
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
	if strings.HasSuffix(file, ".gz") { // textio decompresses by extension too
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
	fn := &parseFn{Spec: spec}
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
	lines := textio.ReadWithFilename(s, glob)
	events, dead, stats := beam.ParDo3(s, fn, lines)
	return Result{Events: events, Dead: dead, Stats: beam.Combine(s, MergeStats, stats)}, nil
}

// parseFn parses (file, line) pairs. Counts are kept per bundle and
// published once in FinishBundle, off the per-line path.
type parseFn struct {
	Spec       Spec
	Header     []string
	HeaderLine string

	parser *Parser
	stats  Stats
	bad    map[string]int64
}

func (f *parseFn) Setup() error {
	var err error
	f.parser, err = NewParser(f.Spec, f.Header)
	return err
}

func (f *parseFn) StartBundle(_ context.Context, _ func(Event), _ func(DeadLetter), _ func(Stats)) {
	f.stats, f.bad = Stats{}, map[string]int64{}
}

func (f *parseFn) ProcessElement(_ context.Context, file, line string, emit func(Event), dead func(DeadLetter), _ func(Stats)) {
	if f.HeaderLine != "" && strings.TrimSuffix(strings.TrimPrefix(line, "\ufeff"), "\r") == f.HeaderLine {
		return
	}
	f.stats.Rows++
	e, reason := f.parser.Parse(line)
	if reason != "" {
		f.stats.Bad++
		f.bad[reason]++
		dead(DeadLetter{Reason: reason, File: file, Line: line})
		return
	}
	emit(e)
}

func (f *parseFn) FinishBundle(ctx context.Context, _ func(Event), _ func(DeadLetter), emitStats func(Stats)) {
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
