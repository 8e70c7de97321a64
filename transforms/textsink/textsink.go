// Package textsink writes a PCollection of lines to one file, sorted, so
// that the same lines give the same bytes whatever order a runner delivers
// them in, and readers never see a half-written file.
package textsink

import (
	"bufio"
	"context"
	"fmt"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x1[context.Context, []byte, func(*string) bool, []int, func(int), error](&writeFn{})
	register.Iter1[string]()
	register.Emitter1[int]()
}

// Write writes lines (a PCollection<string>) to path, local or gs://, one
// line each, sorted bytewise. The file is written only once every
// PCollection<int> in after is complete (a failing step in after prevents
// the write). It returns a PCollection<int> holding the number of lines
// written, to order later steps after the file. Each PCollection in after
// must hold at least one element once its step succeeded: a runner that
// goes on scheduling stages after a failed one (Prism can) then finds the
// failed step's element missing, and Write refuses to write.
func Write(s beam.Scope, path string, lines beam.PCollection, after ...beam.PCollection) beam.PCollection {
	s = s.Scope("textsink.Write")
	deps := beam.CreateList(s, []int{})
	if len(after) > 0 {
		deps = beam.Flatten(s, append(after, deps)...)
	}
	// One impulse drives one write, which reads the lines as a side input:
	// an empty input still writes an (empty) file.
	return beam.ParDo(s, &writeFn{Path: path, After: len(after)}, beam.Impulse(s), beam.SideInput{Input: lines}, beam.SideInput{Input: deps})
}

type writeFn struct {
	Path string
	// After is the number of steps the write waits on, each of which
	// leaves at least one element when it succeeds.
	After int
}

func (f *writeFn) ProcessElement(ctx context.Context, _ []byte, lines func(*string) bool, after []int, emit func(int)) error {
	if len(after) < f.After {
		return fmt.Errorf("textsink: not writing %s: %d of the %d steps it waits on produced nothing (a failed step)", f.Path, f.After-len(after), f.After)
	}
	var all []string
	var line string
	for lines(&line) {
		all = append(all, line)
	}
	slices.Sort(all)
	if err := WriteFile(ctx, f.Path, all); err != nil {
		return err
	}
	emit(len(all))
	return nil
}

// WriteFile writes lines to path through Beam's filesystems. Where the
// filesystem can rename (local files), it writes a temporary file first and
// renames it into place; object stores publish an object whole on close.
func WriteFile(ctx context.Context, path string, lines []string) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("output %s: %v", path, err)
	}
	defer fs.Close()
	renamer, atomic := fs.(filesystem.Renamer)
	target := path
	if atomic {
		target = path + ".tmp"
	}
	w, err := fs.OpenWrite(ctx, target)
	if err != nil {
		return fmt.Errorf("output %s: %v", path, err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	if atomic {
		if err := renamer.Rename(ctx, target, path); err != nil {
			return fmt.Errorf("output %s: %v", path, err)
		}
	}
	return nil
}
