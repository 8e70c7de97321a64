package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/recsys/itemsim/recommend"
)

// resultDoc is the response appendResult writes, as encoding/json sees it.
type resultDoc struct {
	Result   []recommend.Scored `json:"result"`
	Fallback bool               `json:"fallback,omitempty"`
	Popular  int                `json:"popular,omitempty"`
	Version  string             `json:"version"`
}

var trickyItems = []string{
	"", "plain", "242", `quo"te`, `back\slash`, `\"`, "tab\tnew\nline\rcr", "\b\f", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "ünïcödé", "日本語", "emoji 🎬", "\u2028line\u2029para", "bad utf8 \xff\xfe end", "\xc3", "a\u00a0b",
	"%2C,comma", "sp ace", "'single'",
}

var trickyScores = []float64{0, math.Copysign(0, -1), 1, -1, 0.25, 0.1, 1.0 / 3, 2.5e-7, 1e-6, 9.99e-7, 1e20, 1e21, 123456789012345678, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.7345720560109742, 40}

// TestAppendResultMatchesEncodingJSON: the hand-written encoder writes
// exactly the bytes encoding/json.Marshal writes, and they decode to the
// values encoded, for tricky item names and scores.
func TestAppendResultMatchesEncodingJSON(t *testing.T) {
	for k, name := range trickyItems {
		var items []recommend.Scored
		for j, sc := range trickyScores {
			items = append(items, recommend.Scored{Item: trickyItems[(k+j)%len(trickyItems)], Score: sc})
		}
		checkEncoding(t, items, k%3*k, k%2 == 0, name)
	}
	checkEncoding(t, nil, 0, true, "v1")
	checkEncoding(t, []recommend.Scored{}, 0, false, "")
	checkEncoding(t, []recommend.Scored{{Item: "p", Score: 9}}, 1, true, "v1")
}

func checkEncoding(t *testing.T, items []recommend.Scored, popular int, fallback bool, version string) {
	t.Helper()
	doc := resultDoc{Result: items, Fallback: fallback, Popular: popular, Version: version}
	if doc.Result == nil {
		doc.Result = []recommend.Scored{} // appendResult writes [] for none
	}
	want, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := appendResult([]byte("garbage"), items, popular, fallback, version)[len("garbage"):]
	if !bytes.Equal(got, append(want, '\n')) {
		t.Fatalf("appendResult:\n got %s\nwant %s", got, want)
	}
	var back resultDoc
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s does not decode: %v", got, err)
	}
	// Decoding gives back every score exactly, and every name that is
	// valid UTF-8 (invalid bytes become U+FFFD, as with encoding/json).
	var again resultDoc
	json.Unmarshal(want, &again)
	if !reflect.DeepEqual(back, again) {
		t.Fatalf("decoded %+v, encoding/json's decodes to %+v", back, again)
	}
	for k, it := range items {
		if back.Result[k].Score != it.Score || math.Signbit(back.Result[k].Score) != math.Signbit(it.Score) {
			t.Errorf("score %v came back as %v", it.Score, back.Result[k].Score)
		}
	}
}

// FuzzAppendResult compares appendResult with encoding/json on arbitrary
// names and scores.
func FuzzAppendResult(f *testing.F) {
	for k, s := range trickyItems {
		f.Add(s, trickyScores[k%len(trickyScores)], k, s+"v")
	}
	f.Fuzz(func(t *testing.T, item string, score float64, popular int, version string) {
		if math.IsNaN(score) || math.IsInf(score, 0) {
			if got := string(appendFloat(nil, score)); got != "null" {
				t.Errorf("appendFloat(%v) = %s, want null", score, got)
			}
			return
		}
		checkEncoding(t, []recommend.Scored{{Item: item, Score: score}, {Item: version, Score: -score}}, max(popular, 0), score > 0, version)
	})
}

// TestSeedAPIAllocs bounds the seed API's allocations per request in this
// package's code, net/http's own excluded (the recorder stands in for
// it): the query, events, result and body are pooled.
func TestSeedAPIAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	s := newTestServer(t, testModel(t, "v1"))
	for _, target := range []string{
		"/make_recommendation?browsed=a,b&purchased=c&n=3",
		"/make_recommendation?browsed=a,b&purchased=c&n=3&neighbors=1&normalize=true&include_seen=true",
	} {
		req := newRequest(t, target)
		w := &discardWriter{h: make(map[string][]string)}
		s.ServeHTTP(w, req)
		if w.code != 200 {
			t.Fatalf("%s: status %d", target, w.code)
		}
		if n := testing.AllocsPerRun(500, func() { s.ServeHTTP(w, req) }); n > 0 {
			t.Errorf("%s: %v allocations per request, want 0", target, n)
		}
	}
}

func newRequest(t *testing.T, target string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// discardWriter is a ResponseWriter that keeps only the status code; its
// header map is reused across requests.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// TestConcurrentSeedAPI: concurrent requests, each with its pooled
// scratch, get exactly the answers they get one at a time.
func TestConcurrentSeedAPI(t *testing.T) {
	s := newTestServer(t, testModel(t, "v1"))
	targets := []string{
		"/make_recommendation?browsed=a", "/make_recommendation?browsed=a,b&purchased=a&n=1",
		"/make_recommendation?basket=b&include_seen=true", "/make_recommendation?browsed=a,b,c",
		"/make_recommendation?n=0", "/v1/similar/a?n=1", "/make_recommendation?browsed=zz,a&basket=",
	}
	want := map[string]string{}
	for _, target := range targets {
		want[target] = do(s, "GET", target, "").Body.String()
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				target := targets[(g+i)%len(targets)]
				if got := do(s, "GET", target, "").Body.String(); got != want[target] {
					t.Errorf("%s: %s, want %s", target, got, want[target])
					return
				}
			}
		}()
	}
	wg.Wait()
}
