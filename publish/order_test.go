package publish

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func day(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

// TestCheckOrder: a version replaces the live one unless the live one's
// window ends later; equal ends (the same day again), no live version and
// a live version without a recorded window all let it through.
func TestCheckOrder(t *testing.T) {
	for _, tc := range []struct {
		version string
		end     time.Time
		live    string
		liveEnd time.Time
		stale   bool
	}{
		{"B", day(2), "A", day(1), false},
		{"A", day(1), "B", day(2), true},
		{"B2", day(2), "B", day(2), false},
		{"B", day(2), "B", day(3), false}, // itself
		{"A", day(1), "", time.Time{}, false},
		{"A", day(1), "old", time.Time{}, false},
	} {
		err := CheckOrder(tc.version, tc.end, tc.live, tc.liveEnd)
		if IsStale(err) != tc.stale || (err != nil) != tc.stale {
			t.Errorf("CheckOrder(%s until %s over %s until %s) = %v, want stale %v", tc.version, tc.end, tc.live, tc.liveEnd, err, tc.stale)
		}
	}
	err := CheckOrder("A", day(1), "B", day(2))
	want := `version "A" covers events until 2026-11-01T00:00:00Z, but the live version "B" covers them until 2026-11-02T00:00:00Z: a late run never replaces a newer model, so nothing was published`
	if err == nil || err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

// TestPreflight: refused when any sink holds a newer version, done only
// when every sink has the run's version, else run.
func TestPreflight(t *testing.T) {
	files := func(live string, end time.Time, has bool) Sink {
		return Sink{Name: "files", Live: live, LiveEnd: end, Has: has}
	}
	ds := func(live string, end time.Time, has bool) Sink {
		return Sink{Name: "datastore", Live: live, LiveEnd: end, Has: has}
	}
	for _, tc := range []struct {
		name  string
		sinks []Sink
		done  bool
		stale string // the sink named in the error; "" for none
	}{
		{"first run", []Sink{files("", time.Time{}, false)}, false, ""},
		{"next day", []Sink{files("A", day(1), false), ds("A", day(1), false)}, false, ""},
		{"same day again", []Sink{files("B", day(2), true), ds("B", day(2), true)}, true, ""},
		{"half published", []Sink{files("B", day(2), true), ds("A", day(1), false)}, false, ""},
		{"late day 1", []Sink{files("B", day(2), false), ds("B", day(2), false)}, false, "files"},
		// Day 1 is still kept in Datastore, but B is live: refused, not done.
		{"late day 1, kept", []Sink{ds("B", day(2), true)}, false, "datastore"},
		{"no sinks", nil, false, ""},
	} {
		version, end := "B", day(2)
		if strings.HasPrefix(tc.name, "late") {
			version, end = "A", day(1)
		}
		done, err := Preflight(version, end, tc.sinks)
		var stale *StaleError
		switch {
		case tc.stale == "" && err != nil, tc.stale != "" && (!errors.As(err, &stale) || !strings.HasPrefix(err.Error(), tc.stale+": ")):
			t.Errorf("%s: error %v, want a stale error from %q", tc.name, err, tc.stale)
		case done != tc.done:
			t.Errorf("%s: done %v, want %v", tc.name, done, tc.done)
		}
	}
}

// TestManifestWindow: the window is written as RFC 3339 times, read back
// in UTC whatever zone it was written in, and refused when empty.
func TestManifestWindow(t *testing.T) {
	m := Manifest{Version: "v", Similarities: File{Path: "s", Size: 3, SHA256: abcSHA256}, Window: &Window{Start: day(1), End: day(2)}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"window":{"start":"2026-11-01T00:00:00Z","end":"2026-11-02T00:00:00Z"}}`; !strings.HasSuffix(string(b), want) {
		t.Errorf("Marshal: %s, want it to end with %s", b, want)
	}
	got, err := Parse([]byte(strings.Replace(string(b), "2026-11-02T00:00:00Z", "2026-11-02T01:00:00+01:00", 1)))
	if err != nil || got.Window == nil || got.Window.End != day(2) || got.Window.Start != day(1) {
		t.Errorf("Parse: %+v, %v; want the window [day 1, day 2) in UTC", got.Window, err)
	}
	open := Manifest{Version: "v", Similarities: m.Similarities, Window: &Window{End: day(2)}}
	if _, err := open.Marshal(); err != nil {
		t.Errorf("a window with no start: %v", err)
	}
	for _, w := range []Window{{Start: day(2), End: day(2)}, {Start: day(3), End: day(2)}, {Start: day(1)}} {
		bad := Manifest{Version: "v", Similarities: m.Similarities, Window: &w}
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("window %+v accepted", w)
		}
	}
}
