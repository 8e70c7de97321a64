package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
