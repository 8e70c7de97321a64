package textsink

import (
	"os"
	"path/filepath"
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
