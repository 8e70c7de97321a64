package textsink

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn2x0[context.Context, string](&partsFn{})
}

// WriteParts writes lines (a PCollection<string>, bounded or not) as it
// arrives: each bundle's lines, sorted bytewise, to one file
// prefix-<hash>.jsonl, named by a hash of its content. It needs no window
// and no side input, so it works on a stream, where Write (which waits for
// the whole PCollection) never would. A bundle that is retried writes the
// same lines to the same name when it holds the same lines, and to another
// part when the runner bundles them differently: delivery is at least
// once, and a reader that takes the union of the parts' lines (the update
// lines of a stream are idempotent) sees every line. Each part is written
// whole (WriteFile), so a reader never sees half of one.
func WriteParts(s beam.Scope, prefix string, lines beam.PCollection) {
	s = s.Scope("textsink.WriteParts")
	beam.ParDo0(s, &partsFn{Prefix: prefix}, lines)
}

// partsFn buffers a bundle's lines and writes them when it finishes.
type partsFn struct {
	Prefix string
	lines  []string
}

func (f *partsFn) StartBundle(context.Context) { f.lines = f.lines[:0] }

func (f *partsFn) ProcessElement(_ context.Context, line string) { f.lines = append(f.lines, line) }

func (f *partsFn) FinishBundle(ctx context.Context) error {
	if len(f.lines) == 0 {
		return nil
	}
	slices.Sort(f.lines)
	h := fnv.New64a()
	for _, l := range f.lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return WriteFile(ctx, fmt.Sprintf("%s-%016x.jsonl", f.Prefix, h.Sum64()), f.lines)
}
