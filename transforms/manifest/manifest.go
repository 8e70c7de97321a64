// Package manifest publishes a run's files in order: Live tells the job,
// before anything is computed, what version the files under a manifest
// hold; CheckOrder is the step the file writes wait on, which fails the run
// when a newer window was published meanwhile; Write writes the manifest
// once every file is in place, describing each (path, size, SHA-256) as
// readers find it. The rules themselves are package publish's.
package manifest

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/transforms/textsink"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(int), error](&orderFn{})
	register.DoFn4x1[context.Context, []byte, []int, func(string), error](&manifestFn{})
}

// Load reads and parses the manifest at path, local or gs://; nil when
// there is none.
func Load(ctx context.Context, path string) (*publish.Manifest, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	}
	defer fs.Close()
	if found, err := fs.List(ctx, path); err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	} else if len(found) == 0 {
		return nil, nil
	}
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	}
	m, err := publish.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (delete it to publish over it)", path, err)
	}
	return &m, nil
}

// Live describes the files under the manifest at path as a sink for
// publish.Preflight: the version they hold, its window's end, and whether
// it is version.
func Live(ctx context.Context, path, version string) (publish.Sink, error) {
	m, err := Load(ctx, path)
	if err != nil {
		return publish.Sink{}, err
	}
	sink := publish.Sink{Name: "files " + path}
	if m != nil {
		sink.Live, sink.Has = m.Version, m.Version == version
		if m.Window != nil {
			sink.LiveEnd = m.Window.End
		}
	}
	return sink, nil
}

// CheckOrder adds the step that the file writes wait on: it fails the run
// when the manifest at path names a version whose window ends after end,
// which a run published since the job's preflight. Files cannot be
// replaced together, so the check comes before the first is replaced. It
// returns a PCollection<int> of one element once the check passed.
func CheckOrder(s beam.Scope, path, version string, end time.Time) beam.PCollection {
	s = s.Scope("manifest.CheckOrder")
	return beam.ParDo(s, &orderFn{Manifest: path, Version: version, End: end.Unix()}, beam.Impulse(s))
}

// orderFn is CheckOrder's step; End is the run's window end in unix
// seconds.
type orderFn struct {
	Manifest, Version string
	End               int64
}

func (f *orderFn) ProcessElement(ctx context.Context, _ []byte, emit func(int)) error {
	m, err := Load(ctx, f.Manifest)
	if err != nil {
		return err
	}
	if m != nil && m.Window != nil {
		if err := publish.CheckOrder(f.Version, time.Unix(f.End, 0).UTC(), m.Version, m.Window.End); err != nil {
			return fmt.Errorf("files %s: %w", f.Manifest, err)
		}
	}
	emit(0)
	return nil
}

// Files are the paths of a run's published files, "" for a file the run
// does not write. Similarities is required.
type Files struct {
	Similarities, Popular, Users, ItemFactors, UserFactors string
}

// Write writes the manifest m (its version, measure, window and settings;
// the files are filled in here) to path once every write in written (the
// textsink.Write outputs of the files) is done: each file is then in
// place, so the manifest describes the files as readers find them, and a
// reader that sees the manifest sees the whole run.
func Write(s beam.Scope, path string, m publish.Manifest, files Files, written []beam.PCollection) {
	s = s.Scope("manifest.Write")
	done := beam.Flatten(s, written...)
	doc := beam.ParDo(s, &manifestFn{Path: path, Manifest: m, Files: files, Writes: len(written)}, beam.Impulse(s), beam.SideInput{Input: done})
	textsink.Write(s, path, doc, written...)
}

// manifestFn describes the published files, read back whole through Beam's
// filesystems, as one line of manifest.
type manifestFn struct {
	Path     string
	Manifest publish.Manifest
	Files    Files
	// Writes is the number of file writes waited on, each of which leaves
	// one element when it succeeds.
	Writes int
}

func (f *manifestFn) ProcessElement(ctx context.Context, _ []byte, done []int, emit func(string)) error {
	if len(done) < f.Writes {
		// A runner may go on after a failed write (see textsink.Write):
		// describing the files now would describe an older run's.
		return fmt.Errorf("manifest %s: %d of the %d file writes produced nothing (a failed write)", f.Path, f.Writes-len(done), f.Writes)
	}
	m := f.Manifest
	var err error
	if m.Similarities, err = describe(ctx, f.Path, f.Files.Similarities); err != nil {
		return err
	}
	for _, opt := range []struct {
		path string
		dst  **publish.File
	}{{f.Files.Popular, &m.Popular}, {f.Files.Users, &m.Users}, {f.Files.ItemFactors, &m.ItemFactors}, {f.Files.UserFactors, &m.UserFactors}} {
		if opt.path == "" {
			continue
		}
		file, err := describe(ctx, f.Path, opt.path)
		if err != nil {
			return err
		}
		*opt.dst = &file
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	emit(string(b))
	return nil
}

// describe reads the published file at path and describes it for the
// manifest at manifest.
func describe(ctx context.Context, manifest, path string) (publish.File, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return publish.File{}, fmt.Errorf("manifest: %s: %v", path, err)
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return publish.File{}, fmt.Errorf("manifest: %s: %v", path, err)
	}
	defer r.Close()
	return publish.Describe(publish.Rel(manifest, path), r)
}
