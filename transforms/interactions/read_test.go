package interactions

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRead reads two files with a header (one with CRLF endings and a BOM)
// and routes every kind of bad line to the dead letter with its file.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.csv", "\ufeffuser,productSku,type\r\nu1,p1,3\r\nu1,p2,1\r\nu2,p1\r\n")
	b := writeFile(t, dir, "b.csv", "user,productSku,type\nu2,p2,2\nu3,p9,7\n,p1,1\nu\xff,p1,1")
	p, s := beam.NewPipelineWithRoot()
	res, err := Read(s, filepath.Join(dir, "*.csv"), seedSpec)
	if err != nil {
		t.Fatal(err)
	}
	passert.Equals(s, Unbatch(s, res.Batches),
		Event{User: "u1", Item: "p1", Weight: 6}, Event{User: "u1", Item: "p2", Weight: 0.5}, Event{User: "u2", Item: "p2", Weight: 2})
	passert.Equals(s, res.Dead,
		DeadLetter{Reason: ReasonFieldCount, File: a, Line: "u2,p1\r"},
		DeadLetter{Reason: ReasonUnknownAction, File: b, Line: "u3,p9,7"},
		DeadLetter{Reason: ReasonEmptyUser, File: b, Line: ",p1,1"},
		DeadLetter{Reason: ReasonInvalidUTF8, File: b, Line: "u\xff,p1,1"})
	passert.Equals(s, res.Stats, Stats{Rows: 7, Bad: 4})
	ptest.RunAndValidate(t, p)
}

// TestReadGzip: a .gz file is decompressed for its header and its lines.
func TestReadGzip(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("user,productSku,type\nu1,p1,3\nu2,p1,9\n"))
	zw.Close()
	writeFile(t, dir, "a.csv.gz", buf.String())
	p, s := beam.NewPipelineWithRoot()
	res, err := Read(s, filepath.Join(dir, "*.csv.gz"), seedSpec)
	if err != nil {
		t.Fatal(err)
	}
	passert.Equals(s, Unbatch(s, res.Batches), Event{User: "u1", Item: "p1", Weight: 6})
	passert.Equals(s, res.Stats, Stats{Rows: 2, Bad: 1})
	ptest.RunAndValidate(t, p)
}

func TestReadFailsFast(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user,productSku,type\nu1,p1,3\n")
	writeFile(t, dir, "b.csv", "user,type,productSku\nu1,3,p1\n")
	tests := []struct {
		glob string
		spec Spec
		want string
	}{
		{filepath.Join(dir, "none*.csv"), seedSpec, "matches no file"},
		{filepath.Join(dir, "*.csv"), seedSpec, "must share their header"},
		{filepath.Join(dir, "a.csv"), func() Spec { s := seedSpec; s.UserField = "customer"; return s }(), `--user_field="customer"`},
	}
	for _, tc := range tests {
		_, s := beam.NewPipelineWithRoot()
		if _, err := Read(s, tc.glob, tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Read(%s): err = %v, want %q", tc.glob, err, tc.want)
		}
	}
}

func TestGate(t *testing.T) {
	for _, tc := range []struct {
		st   Stats
		max  float64
		fail bool
	}{{Stats{100, 1}, 0.01, false}, {Stats{100, 2}, 0.01, true}, {Stats{0, 0}, 0, false}, {Stats{10, 10}, 1, false}} {
		if err := CheckBadFraction(tc.st, tc.max); (err != nil) != tc.fail {
			t.Errorf("CheckBadFraction(%+v, %v) = %v", tc.st, tc.max, err)
		}
	}
}

// TestReadSplits reads a file in byte ranges of every size, as initial
// splits and as a runner's dynamic splits produce them, and checks that each
// line is parsed exactly once whatever the cut: a line belongs to the range
// it starts in.
func TestReadSplits(t *testing.T) {
	var body strings.Builder
	body.WriteString("user,productSku,type\n")
	var want []Event
	for i := range 40 {
		u, item := fmt.Sprintf("u%d", i%7), fmt.Sprintf("p%d", i*i%13)
		body.WriteString(u + "," + item + ",3\n")
		want = append(want, Event{User: u, Item: item, Weight: 6})
	}
	body.WriteString("u9,p9,1") // no final line break
	want = append(want, Event{User: "u9", Item: "p9", Weight: 0.5})
	path := writeFile(t, t.TempDir(), "a.csv", body.String())
	file := fileio.ReadableFile{Metadata: fileio.FileMetadata{Path: path, Size: int64(body.Len())}}

	for _, size := range []int64{1, 2, 7, 21, 22, 64, 1 << 20} {
		fn := &readFn{Spec: seedSpec, Header: []string{"user", "productSku", "type"}, HeaderLine: "user,productSku,type", SplitSize: size}
		if err := fn.Setup(); err != nil {
			t.Fatal(err)
		}
		var got []Event
		emit := func(b Batch) { got = append(got, b.Events...) }
		dead := func(d DeadLetter) { t.Errorf("split size %d: dead letter %+v", size, d) }
		fn.StartBundle(context.Background(), emit, dead, nil)
		splits := fn.SplitRestriction(file, fn.CreateInitialRestriction(file))
		for k, rest := range splits {
			if k > 0 && rest.Start != splits[k-1].End {
				t.Fatalf("split size %d: splits %v leave a gap", size, splits)
			}
			rt := fn.CreateTracker(rest)
			if err := fn.ProcessElement(context.Background(), rt, file, emit, dead, nil); err != nil {
				t.Fatalf("split size %d, range %v: %v", size, rest, err)
			}
			if !rt.IsDone() {
				t.Errorf("split size %d, range %v: restriction not fully claimed", size, rest)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("split size %d (%d splits): got %d events, want %d:\n%v", size, len(splits), len(got), len(want), got)
		}
		if fn.stats.Rows != int64(len(want)) {
			t.Errorf("split size %d: %d rows counted, want %d", size, fn.stats.Rows, len(want))
		}
	}
}

// TestReadBatches: a source emits a batch per block of BatchSize lines, less
// the block's bad lines, in file order, and the bad lines' dead letters in
// file order.
func TestReadBatches(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bad       []int // line numbers made bad
		wantSizes []int
	}{
		{"all good", nil, []int{BatchSize, 5}},
		{"bad lines in both blocks", []int{0, 7, BatchSize + 1}, []int{BatchSize - 2, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body strings.Builder
			var wantDead []string
			for i := range BatchSize + 5 {
				if slices.Contains(tc.bad, i) {
					line := fmt.Sprintf("u%d,p1,9", i) // action 9 has no weight
					wantDead = append(wantDead, line)
					fmt.Fprintln(&body, line)
					continue
				}
				fmt.Fprintf(&body, "u%d,p1,1\n", i)
			}
			path := writeFile(t, t.TempDir(), "a.csv", body.String())
			file := fileio.ReadableFile{Metadata: fileio.FileMetadata{Path: path, Size: int64(body.Len())}}
			spec := seedSpec
			spec.Header = false
			spec.UserField, spec.ItemField, spec.ActionField = "0", "1", "2"
			fn := &readFn{Spec: spec}
			if err := fn.Setup(); err != nil {
				t.Fatal(err)
			}
			var sizes []int
			var users []string
			emit := func(b Batch) {
				sizes = append(sizes, len(b.Events))
				for _, e := range b.Events {
					users = append(users, e.User)
				}
			}
			var dead []string
			deadFn := func(d DeadLetter) { dead = append(dead, d.Line) }
			fn.StartBundle(context.Background(), emit, deadFn, nil)
			if err := fn.ProcessElement(context.Background(), fn.CreateTracker(fn.CreateInitialRestriction(file)), file, emit, deadFn, nil); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sizes, tc.wantSizes) {
				t.Errorf("batch sizes %v, want %v", sizes, tc.wantSizes)
			}
			if !slices.Equal(dead, wantDead) {
				t.Errorf("dead letters %v, want %v", dead, wantDead)
			}
			if fn.stats.Rows != BatchSize+5 || fn.stats.Bad != int64(len(tc.bad)) {
				t.Errorf("stats %+v, want %d rows, %d bad", fn.stats, BatchSize+5, len(tc.bad))
			}
			for k := 1; k < len(users); k++ { // events stay in file order
				if a, b := users[k-1], users[k]; len(a) > len(b) || (len(a) == len(b) && a >= b) {
					t.Fatalf("event %d (%s) after %s: out of file order", k, b, a)
				}
			}
		})
	}
}
