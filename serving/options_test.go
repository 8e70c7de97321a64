package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/recsys/itemsim/recommend"
)

// TestScoringOptions: each scoring option's flag sets the default, and a
// request's parameter (GET) or field (POST) overrides it either way. The
// model is testModel's: a lists b .5, c .25; b lists a .5; popular p 9,
// a 8; browsed weighs 0.5.
func TestScoringOptions(t *testing.T) {
	m := testModel(t, "v1")
	const (
		// browsed=a: b .25, c .125, then p from the popular list.
		whole = `{"result":[{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`
		// a's best neighbour only: b .25; c is not scored.
		best1 = `{"result":[{"item":"b","score":0.25},{"item":"p","score":9}],"popular":1,"version":"v1"}`
		// b .25/.5, c .125/.25.
		normalised = `{"result":[{"item":"b","score":0.5},{"item":"c","score":0.5},{"item":"p","score":9}],"popular":1,"version":"v1"}`
		// browsed=a,b: a gives b .25, c .125; b gives a .25; a and b are
		// the customer's.
		unseen = `{"result":[{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`
		seen   = `{"result":[{"item":"a","score":0.25},{"item":"b","score":0.25},{"item":"c","score":0.125},{"item":"p","score":9}],"popular":1,"version":"v1"}`
		// k=1, normalised, seen: a .25/.5, b .25/.5.
		allThree = `{"result":[{"item":"a","score":0.5},{"item":"b","score":0.5},{"item":"p","score":9}],"popular":1,"version":"v1"}`
	)
	a := `{"item":"a","action":"browsed"}`
	ab := a + `,{"item":"b","action":"browsed"}`
	tests := []struct {
		name      string
		flags     recommend.Options
		query     string // of GET /make_recommendation
		postItems string // the POST body's items
		postOpts  string // and its options, each followed by a comma
		want      string
	}{
		{"defaults", recommend.Options{}, "browsed=a", a, "", whole},
		{"--neighbors=1", recommend.Options{Neighbors: 1}, "browsed=a", a, "", best1},
		{"--neighbors=1, request 0", recommend.Options{Neighbors: 1}, "browsed=a&neighbors=0", a, `"neighbors":0,`, whole},
		{"--neighbors=1, request 1000", recommend.Options{Neighbors: 1}, "browsed=a&neighbors=1000", a, `"neighbors":1000,`, whole},
		{"request neighbors=1", recommend.Options{}, "browsed=a&neighbors=1", a, `"neighbors":1,`, best1},
		{"--normalize", recommend.Options{Normalize: true}, "browsed=a", a, "", normalised},
		{"--normalize, request false", recommend.Options{Normalize: true}, "browsed=a&normalize=false", a, `"normalize":false,`, whole},
		{"request normalize", recommend.Options{}, "browsed=a&normalize=true", a, `"normalize":true,`, normalised},
		{"--include_seen", recommend.Options{IncludeSeen: true}, "browsed=a,b", ab, "", seen},
		{"--include_seen, request false", recommend.Options{IncludeSeen: true}, "browsed=a,b&include_seen=false", ab, `"include_seen":false,`, unseen},
		{"request include_seen", recommend.Options{}, "browsed=a,b&include_seen=true", ab, `"include_seen":true,`, seen},
		{"all three flags", recommend.Options{Neighbors: 1, Normalize: true, IncludeSeen: true}, "browsed=a,b", ab, "", allThree},
		{"all three in the request", recommend.Options{}, "browsed=a,b&neighbors=1&normalize=true&include_seen=true", ab,
			`"neighbors":1,"normalize":true,"include_seen":true,`, allThree},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServerWith(t, m, tc.flags)
			body := `{` + tc.postOpts + `"items":[` + tc.postItems + `]}`
			for _, r := range []struct{ method, target, body string }{
				{"GET", "/make_recommendation?" + tc.query, ""},
				{"POST", "/v1/recommendations", body},
			} {
				w := do(s, r.method, r.target, r.body)
				if got := strings.TrimSuffix(w.Body.String(), "\n"); w.Code != 200 || got != tc.want {
					t.Errorf("%s %s %s: %d\n %s\nwant\n %s", r.method, r.target, r.body, w.Code, got, tc.want)
				}
			}
		})
	}
}

// TestScoringOptionsRejected: an option out of its range or of the wrong
// type is a 400 with a JSON error that says what is wanted.
func TestScoringOptionsRejected(t *testing.T) {
	s := newTestServerWith(t, testModel(t, "v1"), recommend.Options{Neighbors: 5, Normalize: true})
	tests := []struct{ method, target, body, want string }{
		{"GET", "/make_recommendation?browsed=a&neighbors=-1", "", "neighbors must be an integer in 0..1000"},
		{"GET", "/make_recommendation?browsed=a&neighbors=1001", "", "neighbors must be an integer in 0..1000"},
		{"GET", "/make_recommendation?browsed=a&neighbors=ten", "", "neighbors must be an integer in 0..1000"},
		{"GET", "/make_recommendation?browsed=a&neighbors=2.5", "", "neighbors must be an integer in 0..1000"},
		{"GET", "/make_recommendation?browsed=a&neighbors=", "", "neighbors must be an integer in 0..1000"},
		{"GET", "/make_recommendation?browsed=a&normalize=maybe", "", "normalize must be true or false"},
		{"GET", "/make_recommendation?browsed=a&normalize=", "", "normalize must be true or false"},
		{"GET", "/make_recommendation?browsed=a&include_seen=2", "", "include_seen must be true or false"},
		{"GET", "/make_recommendation?browsed=a&neighbours=3", "", `unknown parameter \"neighbours\": want n, include_seen, normalize, neighbors or an action`},
		{"POST", "/v1/recommendations", `{"items":[],"neighbors":-1}`, "neighbors must be an integer in 0..1000"},
		{"POST", "/v1/recommendations", `{"items":[],"neighbors":1001}`, "neighbors must be an integer in 0..1000"},
		{"POST", "/v1/recommendations", `{"items":[],"neighbors":2.5}`, "malformed JSON body"},
		{"POST", "/v1/recommendations", `{"items":[],"neighbors":"3"}`, "malformed JSON body"},
		{"POST", "/v1/recommendations", `{"items":[],"normalize":"yes"}`, "malformed JSON body"},
		{"POST", "/v1/recommendations", `{"items":[],"include_seen":1}`, "malformed JSON body"},
	}
	for _, tc := range tests {
		w := do(s, tc.method, tc.target, tc.body)
		var e struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != 400 || err != nil || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s %s: %d %s, want 400 with an error containing %q", tc.method, tc.target, tc.body, w.Code, w.Body, tc.want)
		}
	}
}

// TestScoringDefaults: the flags become the options requests start from;
// --neighbors out of 0..1000, or --weights naming an action like an
// option, is refused at startup.
func TestScoringDefaults(t *testing.T) {
	p, err := recommend.NewProfiler("browsed:0.5,basket:2", "sum", -1)
	if err != nil {
		t.Fatal(err)
	}
	o, err := scoringDefaults(p, true, true, 1000)
	if want := (recommend.Options{Normalize: true, IncludeSeen: true, Neighbors: 1000}); err != nil || o != want {
		t.Errorf("scoringDefaults(true, true, 1000) = %+v, %v; want %+v", o, err, want)
	}
	for _, k := range []int{-1, 1001} {
		if _, err := scoringDefaults(p, false, false, k); err == nil || !strings.Contains(err.Error(), "--neighbors=") {
			t.Errorf("--neighbors=%d: %v, want an error", k, err)
		}
	}
	for _, name := range optionParams {
		clash, err := recommend.NewProfiler("browsed:0.5,"+name+":2", "sum", -1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scoringDefaults(clash, false, false, 0); err == nil || !strings.Contains(err.Error(), `action "`+name+`"`) {
			t.Errorf("an action named %s: %v, want an error", name, err)
		}
	}
}
