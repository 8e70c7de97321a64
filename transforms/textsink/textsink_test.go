package textsink

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func TestWriteSortsAndCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	p, s := beam.NewPipelineWithRoot()
	n := Write(s, path, beam.Create(s, "c", "a", "b\tx", "a"))
	passert.Equals(s, n, 4)
	ptest.RunAndValidate(t, p)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\na\nb\tx\nc\n"; string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestWriteEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.jsonl")
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, Write(s, path, beam.CreateList(s, []string{})), 0)
	ptest.RunAndValidate(t, p)
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("stat = %v, %v; want an empty file", fi, err)
	}
}

// TestWritePartsKeepsEveryLine writes 2,000 lines as parts: the parts hold
// every line once, each part sorted and named by its content's hash, so a
// rewrite of the same bundle lands on the same name.
func TestWritePartsKeepsEveryLine(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "out", "updates")
	var want []string
	for i := range 2000 {
		want = append(want, fmt.Sprintf("line %04d", (i*7919)%2000))
	}
	p, s := beam.NewPipelineWithRoot()
	WriteParts(s, prefix, beam.Reshuffle(s, beam.CreateList(s, want)))
	ptest.RunAndValidate(t, p)
	parts, err := filepath.Glob(prefix + "-*.jsonl")
	if err != nil || len(parts) == 0 {
		t.Fatalf("no parts at %s: %v", prefix, err)
	}
	var got []string
	for _, part := range parts {
		b, err := os.ReadFile(part)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if !slices.IsSorted(lines) {
			t.Errorf("%s is not sorted", part)
		}
		h := fnv.New64a()
		h.Write(b)
		if name := fmt.Sprintf("%s-%016x.jsonl", prefix, h.Sum64()); name != part {
			t.Errorf("part %s holds content named %s", part, name)
		}
		got = append(got, lines...)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("parts hold %d lines, want the %d written", len(got), len(want))
	}
	t.Logf("%d lines in %d parts", len(got), len(parts))
}
