package publish

import (
	"errors"
	"fmt"
	"time"
)

// Window is the span of event time a version was computed from: the events
// at or after Start (zero: from the first) and before End. End orders the
// versions a sink publishes (CheckOrder); a run without an end bound ends
// at its own start.
type Window struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end"`
}

// StaleError refuses to publish a version over a live one whose window ends
// later: a run that starts late (a retried or back-filled night) never
// replaces a newer model.
type StaleError struct {
	// Version and End are the refused run's.
	Version string
	End     time.Time
	// Live and LiveEnd are the live version's.
	Live    string
	LiveEnd time.Time
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("version %q covers events until %s, but the live version %q covers them until %s: a late run never replaces a newer model, so nothing was published",
		e.Version, e.End.UTC().Format(time.RFC3339), e.Live, e.LiveEnd.UTC().Format(time.RFC3339))
}

// CheckOrder returns a *StaleError when version, whose window ends at end,
// may not replace live, whose window ends at liveEnd: when liveEnd is later.
// A sink with no live version, or one recorded before windows were (zero
// liveEnd), takes any version; an equal end is the same day run again and
// may replace it.
func CheckOrder(version string, end time.Time, live string, liveEnd time.Time) error {
	if live == "" || live == version || !liveEnd.After(end) {
		return nil
	}
	return &StaleError{Version: version, End: end, Live: live, LiveEnd: liveEnd}
}

// IsStale reports whether err is or wraps a *StaleError.
func IsStale(err error) bool {
	var s *StaleError
	return errors.As(err, &s)
}

// Sink is what one of a run's sinks (the files under a manifest, a
// Datastore namespace) holds before the run: the live version, where its
// window ends, and whether the run's own version is already complete there.
type Sink struct {
	Name    string
	Live    string
	LiveEnd time.Time
	Has     bool
}

// Preflight decides, before a run computes anything, whether to run:
// an error (a *StaleError naming the sink) when a sink's live version is
// newer than the run's window end, else done when every sink already has
// the run's version complete (a re-run of a published day: nothing to do),
// else run. The sinks check order again when they publish, since another
// run may publish in between.
func Preflight(version string, end time.Time, sinks []Sink) (done bool, err error) {
	for _, s := range sinks {
		if err := CheckOrder(version, end, s.Live, s.LiveEnd); err != nil {
			return false, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	for _, s := range sinks {
		if !s.Has {
			return false, nil
		}
	}
	return len(sinks) > 0, nil
}
