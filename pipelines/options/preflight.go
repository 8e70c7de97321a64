package options

import (
	"context"
	"fmt"
	"time"

	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/transforms/datastoreio"
	"github.com/recsys/itemsim/transforms/manifest"
)

// Preflight reads what each sink of a run holds before anything is
// computed (publish.Preflight): a *publish.StaleError when a sink's live
// version covers a later window than the run's (version, ending at end),
// done when every sink already holds version (the same day run again).
// The sinks are the files under the manifest at manifestPath ("" for none)
// and, when d is enabled, d's Datastore version pointer; a run with
// neither has no order to keep and runs.
func (d *Datastore) Preflight(ctx context.Context, manifestPath, version string, end time.Time) (done bool, err error) {
	var sinks []publish.Sink
	if manifestPath != "" {
		sink, err := manifest.Live(ctx, manifestPath, version)
		if err != nil {
			return false, err
		}
		sinks = append(sinks, sink)
	}
	if d.Enabled() {
		sink, err := datastoreio.Live(ctx, d.Config(version))
		if err != nil {
			return false, fmt.Errorf("reading the live Datastore version, to check that this run is not older: %v", err)
		}
		sinks = append(sinks, sink)
	}
	return publish.Preflight(version, end, sinks)
}
