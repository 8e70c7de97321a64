package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/recommend"
)

// TestMain runs the Beam pipelines of the Datastore tests on Prism.
func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func nbs(item string, ns ...model.Neighbor) model.Neighbors {
	return model.Neighbors{Item: item, Neighbors: ns}
}

func nb(item string, score float64) model.Neighbor { return model.Neighbor{Item: item, Score: score} }

// testModel: a lists b .5, c .25; b lists a .5; popular: p 9, a 8.
func testModel(t testing.TB, version string) *recommend.Model {
	t.Helper()
	m, err := recommend.Build([]model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5))},
		[]model.PopularItem{{Item: "p", Users: 9}, {Item: "a", Users: 8}}, version)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newTestServer(t testing.TB, m *recommend.Model) *server {
	t.Helper()
	return newTestServerWith(t, m, recommend.Options{})
}

// newTestServerWith serves m, if any, with the scoring defaults o, as
// the flags give them.
func newTestServerWith(t testing.TB, m *recommend.Model, o recommend.Options) *server {
	t.Helper()
	p, err := recommend.NewProfiler("browsed:0.5,basket:2,purchased:6", "sum", -1)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(p, o)
	if m != nil {
		s.setModel(m)
	}
	return s
}

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, r))
	return w
}

func TestRoutes(t *testing.T) {
	s := newTestServer(t, testModel(t, "v1"))
	many := strings.TrimSuffix(strings.Repeat("x,", 201), ",")
	manyJSON := strings.TrimSuffix(strings.Repeat(`{"item":"x","action":"browsed"},`, 201), ",")
	tests := []struct {
		name, method, target, body string
		code                       int
		want                       string // the body, or a substring of an error
	}{
		// a browsed (0.5): b .25, c .125, then the popular p (a is seen).
		{"seed API", "GET", "/make_recommendation?browsed=a", "", 200,
			`{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		// a purchased (6) and browsed (0.5): 6.5 clipped to 6, so c 1.5.
		{"seed API, several actions", "GET", "/make_recommendation?browsed=a,b&purchased=a&n=1", "", 200,
			`{"result":[{"item":"c","score":1.5}],"version":"v1"}`},
		{"include_seen", "GET", "/make_recommendation?basket=b&include_seen=true", "", 200,
			`{"result":[{"item":"a","score":1},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"unknown items ignored", "GET", "/make_recommendation?browsed=zz,a&basket=", "", 200,
			`{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"fallback", "GET", "/make_recommendation?browsed=a,b,c", "", 200,
			`{"result":[{"item":"p","score":9}],"fallback":true,"popular":1,"version":"v1"}`},
		{"escaped id", "GET", "/make_recommendation?browsed=%61&n=2", "", 200,
			`{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125}],"version":"v1"}`},
		{"n=0", "GET", "/make_recommendation?browsed=a&n=0", "", 400, "n must be"},
		{"n=101", "GET", "/make_recommendation?browsed=a&n=101", "", 400, "n must be"},
		{"n not a number", "GET", "/make_recommendation?n=ten", "", 400, "n must be"},
		{"unknown parameter", "GET", "/make_recommendation?viewed=a", "", 400, `unknown parameter \"viewed\"`},
		{"parameter twice", "GET", "/make_recommendation?browsed=a&browsed=b", "", 400, "given twice"},
		{"too many items", "GET", "/make_recommendation?browsed=" + many, "", 400, "more than 200 items"},
		{"bad include_seen", "GET", "/make_recommendation?include_seen=maybe", "", 400, "include_seen"},
		{"bad escape", "GET", "/make_recommendation?browsed=%zz", "", 400, "malformed query"},
		{"POST to the seed API", "POST", "/make_recommendation?browsed=a", "", 405, "use GET"},

		{"POST", "POST", "/v1/recommendations", `{"items":[{"item":"a","action":"browsed"},{"item":"b","weight":4}],"n":5}`, 200,
			`{"result":[{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`},
		{"POST include_seen", "POST", "/v1/recommendations", `{"items":[{"item":"a","weight":2}],"n":1,"include_seen":true}`, 200,
			`{"result":[{"item":"b","score":1}],"version":"v1"}`},
		{"POST empty: fallback", "POST", "/v1/recommendations", `{"items":[]}`, 200,
			`{"result":[{"item":"p","score":9},{"item":"a","score":8}],"fallback":true,"popular":2,"version":"v1"}`},
		{"malformed JSON", "POST", "/v1/recommendations", `{"items":`, 400, "malformed JSON"},
		{"unknown field", "POST", "/v1/recommendations", `{"items":[],"count":3}`, 400, "unknown field"},
		{"trailing data", "POST", "/v1/recommendations", `{"items":[]} {}`, 400, "data after"},
		{"POST n=0", "POST", "/v1/recommendations", `{"items":[],"n":0}`, 400, "n must be"},
		{"POST too many items", "POST", "/v1/recommendations", `{"items":[` + manyJSON + `]}`, 400, "more than 200 items"},
		{"no item", "POST", "/v1/recommendations", `{"items":[{"action":"browsed"}]}`, 400, "items[0]: no item"},
		{"action and weight", "POST", "/v1/recommendations", `{"items":[{"item":"a","action":"browsed","weight":1}]}`, 400, "exactly one"},
		{"unknown action", "POST", "/v1/recommendations", `{"items":[{"item":"a","action":"viewed"}]}`, 400, "unknown action"},
		{"negative weight", "POST", "/v1/recommendations", `{"items":[{"item":"a","weight":-1}]}`, 400, "weight"},
		{"GET recommendations", "GET", "/v1/recommendations", "", 405, "use POST"},

		{"similar", "GET", "/v1/similar/a?n=1", "", 200, `{"result":[{"item":"b","score":0.5}],"version":"v1"}`},
		{"similar default n", "GET", "/v1/similar/a", "", 200, `{"result":[{"item":"b","score":0.5},{"item":"c","score":0.25}],"version":"v1"}`},
		{"similar unknown", "GET", "/v1/similar/zz", "", 404, "has no neighbours"},
		{"similar popular only", "GET", "/v1/similar/p", "", 404, "has no neighbours"},
		{"similar n=500", "GET", "/v1/similar/a?n=500", "", 400, "n must be"},
		{"similar unknown parameter", "GET", "/v1/similar/a?k=1", "", 400, "unknown parameter"},

		{"healthz", "GET", "/healthz", "", 200, `{"status":"ok"}`},
		{"readyz", "GET", "/readyz", "", 200, `{"items":2,"status":"ready","version":"v1"}`},
		{"no route", "GET", "/nope", "", 404, "no such route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(s, tc.method, tc.target, tc.body)
			body := strings.TrimSuffix(w.Body.String(), "\n")
			if w.Code != tc.code {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.target, w.Code, body, tc.code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.code == 200 {
				if body != tc.want {
					t.Errorf("body\n %s\nwant\n %s", body, tc.want)
				}
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(body, tc.want) || e.Error == "" {
				t.Errorf("body %s: want a JSON error containing %q", body, tc.want)
			}
		})
	}
}

// TestFullPage: a request whose items have fewer than n neighbours gets
// exactly n items, the scored ones first in score order, then popular
// items that are neither among them nor the customer's, and "popular"
// says how many of those there are.
func TestFullPage(t *testing.T) {
	m, err := recommend.Build([]model.Neighbors{nbs("a", nb("b", .5), nb("c", .25)), nbs("b", nb("a", .5))},
		[]model.PopularItem{{Item: "b", Users: 20}, {Item: "a", Users: 15}, {Item: "p1", Users: 10}, {Item: "p2", Users: 9},
			{Item: "p3", Users: 8}, {Item: "p4", Users: 7}}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, m)
	for _, tc := range []struct{ method, target, body string }{
		{"GET", "/make_recommendation?browsed=a&n=5", ""},
		{"POST", "/v1/recommendations", `{"items":[{"item":"a","action":"browsed"}],"n":5}`},
	} {
		w := do(s, tc.method, tc.target, tc.body)
		var got struct {
			Result   []recommend.Scored
			Popular  int
			Fallback bool
			Version  string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
			t.Fatalf("%s %s: %d %s", tc.method, tc.target, w.Code, w.Body)
		}
		// a browsed (0.5): b .25 and c .125 score; b (listed) and a (seen)
		// are skipped in the popular list.
		want := []recommend.Scored{{Item: "b", Score: .25}, {Item: "c", Score: .125}, {Item: "p1", Score: 10}, {Item: "p2", Score: 9}, {Item: "p3", Score: 8}}
		if !reflect.DeepEqual(got.Result, want) || got.Popular != 3 || got.Fallback || got.Version != "v1" {
			t.Errorf("%s %s: %s, want %v with popular 3", tc.method, tc.target, w.Body, want)
		}
	}
}

// TestNotReady: before the first model, /healthz answers and everything
// that needs a model is 503.
func TestNotReady(t *testing.T) {
	s := newTestServer(t, nil)
	for target, code := range map[string]int{
		"/healthz": 200, "/readyz": 503, "/make_recommendation?browsed=a": 503, "/v1/similar/a": 503, "/metrics": 200,
	} {
		if w := do(s, "GET", target, ""); w.Code != code {
			t.Errorf("GET %s: %d, want %d", target, w.Code, code)
		}
	}
	s.setModel(testModel(t, "v1"))
	if w := do(s, "GET", "/readyz", ""); w.Code != 200 {
		t.Errorf("GET /readyz after a load: %d", w.Code)
	}
}

func TestMetrics(t *testing.T) {
	s := newTestServer(t, testModel(t, "v\"1"))
	do(s, "GET", "/make_recommendation?browsed=a", "")
	do(s, "GET", "/make_recommendation?n=0", "")
	do(s, "GET", "/make_recommendation?n=0", "")
	w := do(s, "GET", "/metrics", "")
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		`recsys_http_requests_total{route="/make_recommendation",code="200"} 1`,
		`recsys_http_requests_total{route="/make_recommendation",code="400"} 2`,
		`recsys_http_request_duration_seconds_bucket{route="/make_recommendation",le="+Inf"} 3`,
		`recsys_http_request_duration_seconds_count{route="/make_recommendation"} 3`,
		`# TYPE recsys_http_request_duration_seconds histogram`,
		`recsys_model_info{version="v\"1"} 1`,
		`recsys_model_items 2`,
		`recsys_model_popular_items 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	// Buckets are cumulative.
	var last int64 = -1
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, `recsys_http_request_duration_seconds_bucket{route="/make_recommendation"`) {
			continue
		}
		var n int64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &n)
		if n < last {
			t.Errorf("bucket counts decrease: %s", line)
		}
		last = n
	}
}

// TestGracefulShutdown: cancelling serve's context lets an in-flight
// request finish, then serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "done")
	})
	srv := &http.Server{Handler: mux}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, srv, func() error { return srv.Serve(lis) }, 5*time.Second) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + lis.Addr().String() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // shutdown has begun and waits for /slow
	close(release)
	if b := <-got; b != "done" {
		t.Errorf("in-flight request got %q, want done", b)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := http.Get("http://" + lis.Addr().String() + "/slow"); err == nil {
		t.Error("server still accepts requests after shutdown")
	}
}
