package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{}")) }))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer failing.Close()
	tests := []struct {
		name       string
		base       string
		wantErrors bool
	}{
		{"200s", ok.URL, false},
		{"500s", failing.URL, true},
	}
	for _, tc := range tests {
		urls := RecommendationURLs(tc.base, []string{"a", "b c"}, 3, 10, 1)
		r, err := Run(context.Background(), Config{URLs: urls, Concurrency: 2, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if tc.wantErrors {
			if r.Requests != 0 || r.Errors == 0 || !strings.Contains(r.FirstError, "status 500") {
				t.Errorf("%s: %s", tc.name, r)
			}
			continue
		}
		if r.Requests == 0 || r.Errors != 0 || r.Throughput <= 0 ||
			!(r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max) {
			t.Errorf("%s: %s", tc.name, r)
		}
	}
}

func TestRecommendationURLs(t *testing.T) {
	urls := RecommendationURLs("http://h", []string{"a", "b c"}, 4, 50, 7)
	if len(urls) != 50 {
		t.Fatalf("%d URLs", len(urls))
	}
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := parsed.Query()
		items := 0
		for _, a := range []string{"browsed", "basket", "purchased"} {
			if v := q.Get(a); v != "" {
				items += len(strings.Split(v, ","))
			}
		}
		if parsed.Path != "/make_recommendation" || q.Get("n") != "10" || items != 4 {
			t.Errorf("%s: path %s, n %q, %d items; want 4 items", u, parsed.Path, q.Get("n"), items)
		}
	}
	if again := RecommendationURLs("http://h", []string{"a", "b c"}, 4, 50, 7); strings.Join(again, " ") != strings.Join(urls, " ") {
		t.Error("the same seed gave other URLs")
	}
}

func TestParseWrk(t *testing.T) {
	out := "Running 1s test @ http://h\n  1 threads and 2 connections\n" +
		`WRK_RESULT {"requests":120,"duration_us":1000000,"bytes":9,"connect_errors":0,"read_errors":1,"write_errors":0,"status_errors":20,"timeouts":0,"p50_us":40,"p90_us":80,"p99_us":300,"p999_us":900,"max_us":1200,"mean_us":51.5}` + "\n"
	s, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 120 || s.StatusErrors != 20 || s.ReadErrors != 1 || s.P99 != 300 || s.Max != 1200 {
		t.Errorf("%+v", s)
	}
	if _, err := parseWrk("Running 1s test\n"); err == nil {
		t.Error("no WRK_RESULT line: no error")
	}
}

// TestRunWrk drives the real wrk with serving/loadtest/rotate.lua when wrk
// is installed: every path of the list is requested, 500s are errors.
func TestRunWrk(t *testing.T) {
	if WrkPath() == "" {
		t.Skip("wrk is not installed (apt-get install wrk)")
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.RequestURI()] = true
		mu.Unlock()
		if r.URL.Query().Get("fail") != "" {
			w.WriteHeader(500)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer ok.Close()
	paths := RecommendationPaths([]string{"a", "b c", "d\"e"}, 2, 5, 3)
	c := WrkConfig{Script: "../../serving/loadtest/rotate.lua", Base: ok.URL, Paths: paths, Threads: 2, Connections: 2, Duration: time.Second}
	r, err := RunWrk(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.Throughput <= 0 || r.ClientCPU <= 0 ||
		!(r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max) {
		t.Errorf("%s", r)
	}
	for _, p := range paths {
		if !seen[p] {
			t.Errorf("%s never requested", p)
		}
	}
	c.Paths = []string{"/x?fail=1"}
	if r, err = RunWrk(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Errors == 0 || !strings.Contains(r.FirstError, "status>=400") {
		t.Errorf("500s: %s", r)
	}
}
