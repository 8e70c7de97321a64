package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(int), error](&orderFn{})
}

// preflight reads what each sink of the run holds before anything is
// computed (publish.Preflight): a *publish.StaleError when a sink's live
// version covers a later window than c's, done when every sink already
// holds c's version (the same day run again). The sinks are the files under
// c.Manifest and the Datastore version pointer; a run with neither has no
// order to keep and runs.
func preflight(ctx context.Context, c config) (done bool, err error) {
	var sinks []publish.Sink
	if c.Manifest != "" {
		m, err := loadManifest(ctx, c.Manifest)
		if err != nil {
			return false, err
		}
		sink := publish.Sink{Name: "files " + c.Manifest}
		if m != nil {
			sink.Live, sink.Has = m.Version, m.Version == c.RunID
			if m.Window != nil {
				sink.LiveEnd = m.Window.End
			}
		}
		sinks = append(sinks, sink)
	}
	if datastoreEnabled() {
		sink, err := datastoreio.Live(ctx, datastoreConfig(c.RunID))
		if err != nil {
			return false, fmt.Errorf("reading the live Datastore version, to check that this run is not older: %v", err)
		}
		sinks = append(sinks, sink)
	}
	return publish.Preflight(c.RunID, c.Window.End, sinks)
}

// loadManifest reads and parses the manifest at path, local or gs://; nil
// when there is none.
func loadManifest(ctx context.Context, path string) (*publish.Manifest, error) {
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

// checkFileOrder adds the step that the file writes wait on: it fails the
// run when the manifest at c.Manifest names a version whose window ends
// after c's, which a run published since the preflight. Files cannot be
// replaced together, so the check comes before the first is replaced.
func checkFileOrder(s beam.Scope, c config) beam.PCollection {
	return beam.ParDo(s.Scope("CheckFileOrder"), &orderFn{Manifest: c.Manifest, Version: c.RunID, End: c.Window.End.Unix()}, beam.Impulse(s))
}

// orderFn is checkFileOrder's step; End is the run's window end in unix
// seconds.
type orderFn struct {
	Manifest, Version string
	End               int64
}

func (f *orderFn) ProcessElement(ctx context.Context, _ []byte, emit func(int)) error {
	m, err := loadManifest(ctx, f.Manifest)
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
