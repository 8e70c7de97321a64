package options

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/runners"
)

// Publication is what a batch run publishes under: the window of events it
// read, as resolved for its log (Span) and as recorded with its model
// (Window, whose End orders publications), and its version.
type Publication struct {
	Span    Span
	Window  publish.Window
	Version string
}

// Publication resolves the window flags relative to now and the run's
// version: runID, or by default the window's end (the run's time without
// --until/--window), as 20060102T150405Z, so a re-run of one day's window
// is the same version.
func (w *Window) Publication(now time.Time, runID string) (Publication, error) {
	span, err := w.Resolve(now)
	if err != nil {
		return Publication{}, err
	}
	p := Publication{Span: span, Window: publish.Window{End: span.End()}, Version: runID}
	if span.Since != 0 {
		p.Window.Start = time.Unix(span.Since, 0).UTC()
	}
	if p.Version == "" {
		p.Version = p.Window.End.Format("20060102T150405Z")
	}
	return p, nil
}

// Start prints the run's window and version to w and checks the sinks
// (Preflight of the files under manifestPath and of d): it returns false,
// having printed why, when job should publish nothing, a late run (which
// succeeds, so that no scheduler retries it) or one whose version every
// sink already holds.
func (d *Datastore) Start(ctx context.Context, w io.Writer, job, manifestPath string, p Publication) (proceed bool, err error) {
	fmt.Fprintf(w, "window: %s; version %s\n", p.Span, p.Version)
	switch done, err := d.Preflight(ctx, manifestPath, p.Version, p.Window.End); {
	case publish.IsStale(err):
		fmt.Fprintf(w, "%s: refused: %v\n", job, err)
		return false, nil
	case err != nil:
		return false, err
	case done:
		fmt.Fprintf(w, "%s: version %s is already published in every sink: nothing to do (give another --run_id to publish this window again)\n", job, p.Version)
		return false, nil
	}
	return true, nil
}

// ReportRefused prints to w that the run's version was not published in
// Datastore when the run's counters say its pointer switch was refused (a
// run whose window ends later published meanwhile).
func (d *Datastore) ReportRefused(w io.Writer, job, version string, q metrics.QueryResults) {
	if refused := runners.Counters(q)["datastoreio/publish_refused"]; refused > 0 {
		fmt.Fprintf(w, "%s: refused: version %s was not published in Datastore: a run whose window ends later published meanwhile (datastoreio/publish_refused %d)\n", job, version, refused)
	}
}
