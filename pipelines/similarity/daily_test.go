package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/internal/jobtest"
	"google.golang.org/api/iterator"
)

// The daily fixture's runs: the night after each day reads that day's
// events (a one-day window ending at the next midnight) and publishes the
// version named by the window's end.
const (
	dailyInput = "../../testdata/daily/*.csv.gz"
	versionA   = "20261129T000000Z" // the night after November 28
	versionB   = "20261130T000000Z"
	versionC   = "20261201T000000Z"
)

// runDay runs the job as its binary for the night after day into out's
// files and Datastore project "p", keeping 2 versions, and returns its
// output.
func runDay(t *testing.T, day, out string) string {
	t.Helper()
	return runBinary(t, "--input="+dailyInput, "--time_field=time", "--run_time="+day, "--until=24h", "--window=24h",
		"--output="+filepath.Join(out, "similarities.jsonl"), "--popular_output="+filepath.Join(out, "popular.json"),
		"--datastore_project=p", "--datastore_keep_versions=2")
}

// similarTo returns the neighbours a /v1/similar answer lists, in order.
func similarTo(t *testing.T, a jobtest.Answer) []string {
	t.Helper()
	var r struct {
		Result []struct{ Item string }
	}
	if err := json.Unmarshal([]byte(a.Body), &r); err != nil {
		t.Fatalf("%s: %v", a.Body, err)
	}
	var out []string
	for _, it := range r.Result {
		out = append(out, it.Item)
	}
	return out
}

// datastoreState is every entity of project p, by key, as Datastore holds
// it (values and timestamps).
func datastoreState(t *testing.T, host string) map[string]string {
	t.Helper()
	ctx := context.Background()
	client := datastoretest.Client(t, "p", host)
	state := map[string]string{}
	for _, kind := range []string{"ItemSimilarityVersion", "ItemSimilarity", "ItemSimilarityPopular"} {
		it := client.Run(ctx, datastore.NewQuery(kind))
		for {
			var props datastore.PropertyList
			k, err := it.Next(&props)
			if err == iterator.Done {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			// The emulator returns properties in no fixed order.
			slices.SortFunc(props, func(a, b datastore.Property) int { return strings.Compare(a.Name, b.Name) })
			state[k.String()] = fmt.Sprint(props)
		}
	}
	return state
}

// versionsIn lists the version markers of a datastoreState, sorted.
func versionsIn(state map[string]string) []string {
	var vs []string
	for k := range state {
		if v, ok := strings.CutPrefix(k, "/ItemSimilarityVersion,"); ok && !strings.Contains(v, "/") && v != "current" {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs
}

// fileState is the bytes and modification time of each published file.
func fileState(t *testing.T, dir string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, name := range []string{"similarities.jsonl", "popular.json", "similarities.jsonl.manifest.json"} {
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		state[name] = st.ModTime().String() + " " + string(b)
	}
	return state
}

// TestTwoConsecutiveDays is the nightly loop against the real Datastore
// emulator and over files, with one server on each that reloads every
// 100 ms and is never restarted: the night after November 28 publishes A
// and both servers answer from it; the next night's window moves by a day
// over events whose neighbours differ and publishes B while clients keep
// asking, and every answer through the switch is exactly A's or exactly
// B's, never an error, never A after B; re-running that night changes
// nothing, in Datastore or in the files; the night after the 28th run
// again after B is refused; a third night publishes C and only
// --datastore_keep_versions=2 versions remain.
func TestTwoConsecutiveDays(t *testing.T) {
	emu := datastoretest.StartEmulator(t)
	t.Setenv("DATASTORE_EMULATOR_HOST", emu.Host)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	bin := jobtest.BuildServing(t, dir)

	if log := runDay(t, "2026-11-28", out); !strings.Contains(log, "window: events from 2026-11-28T00:00:00Z until 2026-11-29T00:00:00Z") ||
		!strings.Contains(log, "version "+versionA) {
		t.Fatalf("night 1 did not print its window and version %s:\n%s", versionA, log)
	}
	servers := map[string]string{
		"datastore": jobtest.StartServing(t, bin, "--datastore_project=p"),
		"files":     jobtest.StartServing(t, bin, "--similarities="+filepath.Join(out, "similarities.jsonl"), "--popular="+filepath.Join(out, "popular.json")),
	}
	for _, base := range servers {
		jobtest.WaitVersion(t, base, versionA)
	}
	// On November 28 every sku pairs with its neighbour at distance 1
	// (testdata/daily/README.md): sku00's best are sku01 and sku39.
	client := &http.Client{Timeout: 10 * time.Second}
	if got := similarTo(t, jobtest.Ask(client, servers["datastore"], "/v1/similar/sku00?n=2", "")); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"sku01", "sku39"}) {
		t.Errorf("sku00's 2 best on day 1: %v, want sku01 and sku39", got)
	}

	// Clients ask both servers through the switch to B.
	requests := []struct{ path, body string }{
		{"/v1/similar/sku00?n=5", ""},
		{"/v1/recommendations", `{"items":[{"item":"sku00","weight":6},{"item":"sku10","weight":2},{"item":"sku20","weight":0.5}],"n":8}`},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	type trace struct {
		server string
		req    int
		seen   []jobtest.Answer
	}
	var traces []*trace
	for name, base := range servers {
		for req := range requests {
			tr := &trace{server: name, req: req}
			traces = append(traces, tr)
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					tr.seen = append(tr.seen, jobtest.Ask(client, base, requests[req].path, requests[req].body))
				}
			})
		}
	}
	runDay(t, "2026-11-29", out)
	for _, base := range servers {
		jobtest.WaitVersion(t, base, versionB)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Each request's answers: A's body until the switch, then B's, on both
	// servers, which agree with each other.
	want := map[string]string{} // version and request -> body
	for _, tr := range traces {
		sawB := false
		counts := map[string]int{}
		for i, a := range tr.seen {
			if a.Status != http.StatusOK || (a.Version != versionA && a.Version != versionB) {
				t.Fatalf("%s request %d, answer %d: status %d, version %q: %s", tr.server, tr.req, i, a.Status, a.Version, a.Body)
			}
			if a.Version == versionA && sawB {
				t.Fatalf("%s request %d, answer %d: A after B", tr.server, tr.req, i)
			}
			sawB = sawB || a.Version == versionB
			counts[a.Version]++
			key := fmt.Sprintf("%s %d", a.Version, tr.req)
			if w, ok := want[key]; !ok {
				want[key] = a.Body
			} else if a.Body != w {
				t.Fatalf("%s request %d, answer %d of version %s differs from the others (a mixed answer):\n%s\nwant\n%s", tr.server, tr.req, i, a.Version, a.Body, w)
			}
		}
		if counts[versionA] == 0 || counts[versionB] == 0 {
			t.Errorf("%s request %d saw %v: want answers from both versions", tr.server, tr.req, counts)
		}
		t.Logf("%s request %d: %d answers from A, %d from B", tr.server, tr.req, counts[versionA], counts[versionB])
	}
	if want[versionA+" 0"] == want[versionB+" 0"] || want[versionA+" 1"] == want[versionB+" 1"] {
		t.Errorf("B answers as A did: the fixture's neighbours should differ by day")
	}
	// On November 29 the distance is 7: sku00's best are sku07 and sku33.
	if got := similarTo(t, jobtest.Ask(client, servers["files"], "/v1/similar/sku00?n=2", "")); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"sku07", "sku33"}) {
		t.Errorf("sku00's 2 best on day 2: %v, want sku07 and sku33", got)
	}

	// The same night again: nothing to do, nothing changed.
	dsBefore, filesBefore := datastoreState(t, emu.Host), fileState(t, out)
	if log := runDay(t, "2026-11-29", out); !strings.Contains(log, "similarity: version "+versionB+" is already published in every sink: nothing to do") {
		t.Errorf("re-run of night 2:\n%s", log)
	}
	// Night 1 again, late: refused, nothing changed.
	if log := runDay(t, "2026-11-28", out); !strings.Contains(log, `similarity: refused: `) || !strings.Contains(log, `the live version "`+versionB+`" covers them until 2026-11-30T00:00:00Z`) {
		t.Errorf("late run of night 1:\n%s", log)
	}
	dsAfter, filesAfter := datastoreState(t, emu.Host), fileState(t, out)
	for k, v := range dsAfter {
		if dsBefore[k] != v {
			t.Errorf("the re-run or the late run changed entity %s:\n%s\nwas\n%s", k, v, dsBefore[k])
		}
	}
	if len(dsAfter) != len(dsBefore) || !maps.Equal(filesBefore, filesAfter) {
		t.Errorf("the re-run or the late run changed the sinks: %d entities, %d before; files unchanged: %v", len(dsAfter), len(dsBefore), maps.Equal(filesBefore, filesAfter))
	}
	if got := versionsIn(dsAfter); !slices.Equal(got, []string{versionA, versionB}) {
		t.Errorf("versions after night 2: %v, want A and B", got)
	}

	// Night 3: C is live and A, the third newest, is gone.
	runDay(t, "2026-11-30", out)
	for _, base := range servers {
		jobtest.WaitVersion(t, base, versionC)
	}
	state := datastoreState(t, emu.Host)
	if got := versionsIn(state); !slices.Equal(got, []string{versionB, versionC}) {
		t.Errorf("versions after night 3: %v, want B and C (--datastore_keep_versions=2)", got)
	}
	for k := range state {
		if strings.Contains(k, versionA) {
			t.Errorf("entity %s of version A left after night 3", k)
		}
	}
}

// TestFileOrderCheck: a run that passed its preflight before a newer
// window was published (run here without main's preflight) fails at the
// check the file writes wait on, and leaves the newer files in place.
func TestFileOrderCheck(t *testing.T) {
	out := t.TempDir()
	args := func(day string) []string {
		return []string{"--input=" + dailyInput, "--time_field=time", "--run_time=" + day, "--until=24h", "--window=24h",
			"--output=" + filepath.Join(out, "similarities.jsonl"), "--popular_output=" + filepath.Join(out, "popular.json")}
	}
	runBinary(t, args("2026-11-29")...)
	before := fileState(t, out)
	_, err := runJob(t, args("2026-11-28")...)
	if err == nil || !strings.Contains(err.Error(), `version "`+versionA+`" covers events until 2026-11-29T00:00:00Z, but the live version "`+versionB+`"`) {
		t.Errorf("night 1 after night 2 without a preflight: %v, want the order check's refusal", err)
	}
	if after := fileState(t, out); !maps.Equal(before, after) {
		t.Errorf("the refused run replaced files")
	}
}

// TestMakeDaily runs `make daily` over testdata/daily twice: the first
// loop publishes each night in turn, ending on the night after December 1;
// the second publishes nothing (three nights refused as older, the last
// already published) and leaves the files as they were.
func TestMakeDaily(t *testing.T) {
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "daily")
	daily := func() string {
		cmd := exec.Command(makeTool, "--no-print-directory", "daily", "BIN="+filepath.Join(tmp, "bin"), "DAILY_OUT="+out)
		cmd.Dir = "../.."
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make daily: %v\n%s", err, b)
		}
		return string(b)
	}
	first := daily()
	for _, v := range []string{versionA, versionB, versionC, "20261202T000000Z"} {
		if !strings.Contains(first, "; version "+v+"\n") {
			t.Errorf("the first loop did not run version %s:\n%s", v, first)
		}
	}
	if strings.Contains(first, "refused") || strings.Contains(first, "nothing to do") {
		t.Errorf("the first loop skipped a night:\n%s", first)
	}
	before := fileState(t, out)
	if !strings.Contains(before["similarities.jsonl.manifest.json"], `"version":"20261202T000000Z"`) {
		t.Errorf("manifest after the loop: %s, want the last night's version", before["similarities.jsonl.manifest.json"])
	}
	second := daily()
	if n := strings.Count(second, "similarity: refused: "); n != 3 || !strings.Contains(second, "similarity: version 20261202T000000Z is already published") {
		t.Errorf("the second loop: %d nights refused, want 3 and the last already published:\n%s", n, second)
	}
	if after := fileState(t, out); !maps.Equal(before, after) {
		t.Errorf("the second loop changed the files")
	}
}
