package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/recsys/itemsim/recommend"
)

// Request bounds.
const (
	defaultN = 10
	maxN     = 100
	maxItems = 200
	maxBody  = 1 << 20
	// maxNeighbors bounds the neighbours per customer item a request (or
	// --neighbors) asks for; 0 is the whole list.
	maxNeighbors = 1000
)

// optionParams are the seed API's query parameters that are not actions:
// --weights may not name an action after one.
var optionParams = []string{"n", "include_seen", "normalize", "neighbors"}

// Route names, as exported in metrics.
const (
	routeMake    = "/make_recommendation"
	routeSimilar = "/v1/similar/{item}"
	routeRecs    = "/v1/recommendations"
	// routeFoldIn counts the POSTs of routeRecs with "model":"als" apart:
	// a fold-in costs far more than neighbour scoring.
	routeFoldIn  = "/v1/recommendations model=als"
	routeUsers   = "/v1/users/{user}/recommendations"
	routeHealth  = "/healthz"
	routeReady   = "/readyz"
	routeMetrics = "/metrics"
	routeOther   = "other"
)

// server answers requests from the current model. The model is swapped
// whole (atomic.Pointer), and a request loads it once, so every answer
// comes from exactly one model.
type server struct {
	model    atomic.Pointer[recommend.Model]
	profiler recommend.Profiler
	// defaults are the scoring options a request starts from and may
	// override.
	defaults recommend.Options
	metrics  *metrics
	mux      *http.ServeMux
	// makeHandler is the seed API's handler with its metrics, for
	// ServeHTTP's fast path.
	makeHandler http.HandlerFunc
}

// newServer serves with the profiler p and o's Normalize, Neighbors and
// IncludeSeen as the defaults requests may override (the flags); every
// request has n defaultN unless it says otherwise, and a full page.
func newServer(p recommend.Profiler, o recommend.Options) *server {
	o.N, o.TopUp = defaultN, true
	s := &server{profiler: p, defaults: o,
		metrics: newMetrics(routeMake, routeSimilar, routeRecs, routeFoldIn, routeUsers, routeHealth, routeReady, routeMetrics, routeOther)}
	s.mux = http.NewServeMux()
	s.makeHandler = s.handle("/make_recommendation", routeMake, s.makeRecommendation)
	s.handle("/v1/similar/{item}", routeSimilar, s.similar)
	s.handleRouted("/v1/recommendations", s.recommendations)
	s.handle("/v1/users/{user}/recommendations", routeUsers, s.userRecommendations)
	s.handle("/healthz", routeHealth, func(w http.ResponseWriter, _ *http.Request) int { return writeRaw(w, 200, `{"status":"ok"}`) })
	s.handle("/readyz", routeReady, s.ready)
	s.handle("/metrics", routeMetrics, s.writeMetrics)
	s.handle("/", routeOther, func(w http.ResponseWriter, _ *http.Request) int { return writeError(w, 404, "no such route") })
	return s
}

// handler writes a response and returns its status code, so metrics need
// no wrapper around the ResponseWriter.
type handler func(w http.ResponseWriter, r *http.Request) int

func (s *server) handle(pattern, route string, h handler) http.HandlerFunc {
	rm := s.metrics.routes[route]
	f := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h(w, r)
		rm.observe(code, time.Since(start))
	}
	s.mux.HandleFunc(pattern, f)
	return f
}

// routedHandler is a handler that also names the route (one of the
// metrics') its request counts under.
type routedHandler func(w http.ResponseWriter, r *http.Request) (code int, route string)

// handleRouted is handle for a pattern whose requests count under the
// route the handler names.
func (s *server) handleRouted(pattern string, h routedHandler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code, route := h(w, r)
		s.metrics.routes[route].observe(code, time.Since(start))
	})
}

// ServeHTTP makes the server an http.Handler. The seed API's exact path
// skips the ServeMux's pattern matching; everything else, including
// paths the mux would clean or redirect, goes through it.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == routeMake && r.URL.RawPath == "" {
		s.makeHandler(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// setModel publishes a model; requests that already loaded the old one
// finish with it.
func (s *server) setModel(m *recommend.Model) {
	s.model.Store(m)
	s.metrics.loadedAt.Store(time.Now().UnixNano())
}

func (s *server) ready(w http.ResponseWriter, _ *http.Request) int {
	m := s.model.Load()
	if m == nil {
		return writeError(w, 503, "no model loaded yet")
	}
	doc := map[string]any{"status": "ready", "version": m.Version(), "items": m.Items()}
	if n := m.Users(); n > 0 {
		doc["users"] = n
	}
	if n := m.Factors(); n > 0 {
		doc["factors"] = n
	}
	b, _ := json.Marshal(doc)
	return writeRaw(w, 200, string(b))
}

func (s *server) writeMetrics(w http.ResponseWriter, _ *http.Request) int {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var buf bytes.Buffer
	if m := s.model.Load(); m != nil {
		s.metrics.write(&buf, modelStats{m.Version(), m.Items(), m.Popular(), m.Users(), m.Factors()}, true)
	} else {
		s.metrics.write(&buf, modelStats{}, false)
	}
	w.Write(buf.Bytes())
	return 200
}

// makeRecommendation serves the seed API: GET
// /make_recommendation?browsed=A,B&basket=C&purchased=D&n=10, one
// parameter per action of --weights holding comma-separated items, plus
// the options n, include_seen, normalize and neighbors.
func (s *server) makeRecommendation(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET")
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	q, err := appendQuery(sc.params[:0], r.URL.RawQuery)
	sc.params = q
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	events := sc.events[:0]
	o := s.defaults
	for _, kv := range q {
		switch {
		case kv.key == "n":
			if o.N, err = parseN(kv.value); err != nil {
				return writeError(w, 400, err.Error())
			}
		case kv.key == "include_seen":
			if o.IncludeSeen, err = strconv.ParseBool(kv.value); err != nil {
				return writeError(w, 400, "include_seen must be true or false")
			}
		case kv.key == "normalize":
			if o.Normalize, err = strconv.ParseBool(kv.value); err != nil {
				return writeError(w, 400, "normalize must be true or false")
			}
		case kv.key == "neighbors":
			if o.Neighbors, err = strconv.Atoi(kv.value); err != nil || checkNeighbors(o.Neighbors) != nil {
				return writeError(w, 400, errNeighbors.Error())
			}
		default:
			if _, ok := s.profiler.Weights[kv.key]; !ok {
				return writeError(w, 400, fmt.Sprintf("unknown parameter %q: want %s or an action (%s)", kv.key, strings.Join(optionParams, ", "), s.profiler.Weights))
			}
			for v := kv.value; v != ""; {
				var item string
				item, v, _ = strings.Cut(v, ",")
				if item == "" {
					continue
				}
				if len(events) == maxItems {
					sc.events = events
					return writeError(w, 400, fmt.Sprintf("more than %d items", maxItems))
				}
				events = append(events, recommend.Event{Item: item, Action: kv.key})
			}
		}
	}
	sc.events = events
	return s.recommend(w, sc, events, o)
}

// scratch is one request's reusable memory: the parsed query, the events,
// the result and the response body. Pooled, it makes the seed API's hot
// path allocation-free in this package.
type scratch struct {
	params []param
	events []recommend.Event
	result []recommend.Scored
	body   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release clears the strings a scratch holds (so a pooled scratch does not
// pin request memory) and returns it to the pool. Oversized slices, from
// rare huge requests, are dropped.
func (sc *scratch) release() {
	if cap(sc.params) > maxParams || cap(sc.events) > 2*maxItems || cap(sc.result) > 2*maxN || cap(sc.body) > 64<<10 {
		return
	}
	clear(sc.params[:cap(sc.params)])
	clear(sc.events[:cap(sc.events)])
	clear(sc.result[:cap(sc.result)])
	scratchPool.Put(sc)
}

// recommendationsRequest is the body of POST /v1/recommendations:
//
//	{"items":[{"item":"A","action":"browsed"},{"item":"B","weight":2.5}],
//	 "n":10,"include_seen":false,"normalize":false,"neighbors":20,"model":"itemknn"}
//
// Each item has an action of --weights or a weight used as is; n defaults
// to 10, and an option left out takes the server's default (its flag).
// model is itemknn (the default: neighbour scoring) or als (fold-in
// against the item factors, which takes no normalize or neighbors).
type recommendationsRequest struct {
	Model string `json:"model"`
	Items []struct {
		Item   string   `json:"item"`
		Action string   `json:"action"`
		Weight *float64 `json:"weight"`
	} `json:"items"`
	N           *int  `json:"n"`
	IncludeSeen *bool `json:"include_seen"`
	Normalize   *bool `json:"normalize"`
	Neighbors   *int  `json:"neighbors"`
}

// recommendations serves POST /v1/recommendations, counted under
// routeFoldIn when the body asks for model als.
func (s *server) recommendations(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST"), routeRecs
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var req recommendationsRequest
	if err := dec.Decode(&req); err != nil {
		return writeError(w, 400, "malformed JSON body: "+err.Error()), routeRecs
	}
	if _, err := dec.Token(); err != io.EOF {
		return writeError(w, 400, "malformed JSON body: data after the object"), routeRecs
	}
	switch req.Model {
	case "", modelItemKNN:
		return s.itemKNN(w, &req), routeRecs
	case modelALS:
		return s.foldIn(w, &req), routeFoldIn
	}
	return writeError(w, 400, fmt.Sprintf("model %q: want %s (the default) or %s", req.Model, modelItemKNN, modelALS)), routeRecs
}

// The models a POST /v1/recommendations may name.
const (
	modelItemKNN = "itemknn"
	modelALS     = "als"
)

// itemKNN answers a recommendations request by neighbour scoring.
func (s *server) itemKNN(w http.ResponseWriter, req *recommendationsRequest) int {
	o, err := s.options(req)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	events, err := sc.appendEvents(req)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	return s.recommend(w, sc, events, o)
}

// options are the server's defaults with the request's overrides.
func (s *server) options(req *recommendationsRequest) (recommend.Options, error) {
	o := s.defaults
	if req.N != nil {
		if o.N = *req.N; o.N < 1 || o.N > maxN {
			return o, fmt.Errorf("n must be in 1..%d", maxN)
		}
	}
	if req.Neighbors != nil {
		if o.Neighbors = *req.Neighbors; checkNeighbors(o.Neighbors) != nil {
			return o, errNeighbors
		}
	}
	if req.IncludeSeen != nil {
		o.IncludeSeen = *req.IncludeSeen
	}
	if req.Normalize != nil {
		o.Normalize = *req.Normalize
	}
	return o, nil
}

// appendEvents checks a request's items and converts them to events in
// sc's memory.
func (sc *scratch) appendEvents(req *recommendationsRequest) ([]recommend.Event, error) {
	if len(req.Items) > maxItems {
		return nil, fmt.Errorf("more than %d items", maxItems)
	}
	events := slices.Grow(sc.events[:0], len(req.Items))[:len(req.Items)]
	sc.events = events
	for k, it := range req.Items {
		switch {
		case it.Item == "":
			return nil, fmt.Errorf("items[%d]: no item", k)
		case (it.Action == "") == (it.Weight == nil):
			return nil, fmt.Errorf("items[%d]: give exactly one of action and weight", k)
		}
		events[k] = recommend.Event{Item: it.Item, Action: it.Action}
		if it.Weight != nil {
			events[k].Weight = *it.Weight
		}
	}
	return events, nil
}

// recommend profiles the events and answers from one model, in sc's
// memory.
func (s *server) recommend(w http.ResponseWriter, sc *scratch, events []recommend.Event, o recommend.Options) int {
	m, code := s.loaded(w, events)
	if m == nil {
		return code
	}
	res, err := m.AppendRecommendations(sc.result[:0], s.profiler, events, o)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	sc.result = res.Items
	sc.body = appendResult(sc.body[:0], res.Items, res.Popular, res.Fallback, m.Version())
	return writeJSON(w, sc.body)
}

// loaded is the served model for a request of events. Before the first
// model it writes the error and returns nil and the status code: the
// events are still validated first, so a bad request is a 400 even then.
func (s *server) loaded(w http.ResponseWriter, events []recommend.Event) (*recommend.Model, int) {
	if m := s.model.Load(); m != nil {
		return m, 0
	}
	if _, _, err := s.profiler.Profile(events); err != nil {
		return nil, writeError(w, 400, err.Error())
	}
	return nil, writeError(w, 503, "no model loaded yet")
}

// similar serves GET /v1/similar/{item}?n=10.
func (s *server) similar(w http.ResponseWriter, r *http.Request) int {
	m, n, status := s.storedList(w, r)
	if m == nil {
		return status
	}
	item := r.PathValue("item")
	res, found := m.Similar(item, n)
	if !found {
		return writeError(w, 404, fmt.Sprintf("item %q has no neighbours", item))
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	sc.body = appendResult(sc.body[:0], res, 0, false, m.Version())
	return writeJSON(w, sc.body)
}

// storedList starts a GET route that answers one stored list: it checks
// the method, reads ?n= and loads the model. When it answered already
// (an error), the model is nil and status what it wrote.
func (s *server) storedList(w http.ResponseWriter, r *http.Request) (m *recommend.Model, n int, status int) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, 0, methodNotAllowed(w, "GET")
	}
	n, err := queryN(r.URL.RawQuery)
	if err != nil {
		return nil, 0, writeError(w, 400, err.Error())
	}
	if m = s.model.Load(); m == nil {
		return nil, 0, writeError(w, 503, "no model loaded yet")
	}
	return m, n, 0
}

// queryN reads a query that may give n alone: the routes that answer one
// stored list. Without it, n is defaultN.
func queryN(raw string) (int, error) {
	n := defaultN
	var buf [4]param
	q, err := appendQuery(buf[:0], raw)
	if err != nil {
		return 0, err
	}
	for _, kv := range q {
		if kv.key != "n" {
			return 0, fmt.Errorf("unknown parameter %q: want n", kv.key)
		}
		if n, err = parseN(kv.value); err != nil {
			return 0, err
		}
	}
	return n, nil
}

type param struct{ key, value string }

// maxParams bounds the keys of one query. The widest legitimate request,
// the seed API's, has one key per action of --weights plus the four
// optionParams; 64 leaves room for many more actions. It also keeps
// release's pooled slice small.
const maxParams = 64

// paramSlots is the size of appendQuery's open-addressing table: a power
// of two at least twice maxParams, so probes stay short.
const paramSlots = 2 * maxParams

// querySeed keys the hash appendQuery uses to find repeated keys.
var querySeed = maphash.MakeSeed()

// appendQuery splits a raw query in order onto out, unescaping keys and
// values. It rejects a query with more than maxParams keys, counted before
// anything else is checked, and a key given twice (which of the two would
// win is a guess). Repeats are found in one pass with a hash table on the
// stack, so a query costs time linear in its length and no allocation.
func appendQuery(out []param, raw string) ([]param, error) {
	base := len(out)
	// slot holds 1 + the index (from base) of the key hashed there, or 0.
	var slot [paramSlots]uint8
	var hash [maxParams]uint64
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		n := len(out) - base
		if n == maxParams {
			return out, errTooManyParams
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		if k, err = unescape(k); err != nil {
			return out, err
		}
		if v, err = unescape(v); err != nil {
			return out, err
		}
		h := maphash.String(querySeed, k)
		i := h & (paramSlots - 1)
		for ; slot[i] != 0; i = (i + 1) & (paramSlots - 1) {
			if j := slot[i] - 1; hash[j] == h && out[base+int(j)].key == k {
				return out, fmt.Errorf("parameter %q is given twice", k)
			}
		}
		slot[i], hash[n] = uint8(n+1), h
		out = append(out, param{k, v})
	}
	return out, nil
}

var errTooManyParams = fmt.Errorf("more than %d query parameters", maxParams)

// unescape decodes a query component only when it is escaped: the common
// plain id costs no allocation.
func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	u, err := url.QueryUnescape(s)
	if err != nil || !utf8.ValidString(u) {
		return "", fmt.Errorf("malformed query component %q", s)
	}
	return u, nil
}

// checkNeighbors validates a number of neighbours per customer item, from
// a request or --neighbors.
func checkNeighbors(k int) error {
	if k < 0 || k > maxNeighbors {
		return errNeighbors
	}
	return nil
}

var errNeighbors = fmt.Errorf("neighbors must be an integer in 0..%d (0: each item's whole list)", maxNeighbors)

func parseN(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxN {
		return 0, fmt.Errorf("n must be an integer in 1..%d", maxN)
	}
	return n, nil
}

// appendResult appends {"result":[{"item":"X","score":1.23},...]}, with
// "fallback":true when nothing scored and every item is from the popular
// list, "popular":k when the last k items are from the popular list (k >
// 0), the model's version, and a newline. It is encoded by hand (this is
// the hot path) to the bytes encoding/json.Marshal writes.
func appendResult(b []byte, items []recommend.Scored, popular int, fallback bool, version string) []byte {
	b = append(b, `{"result":[`...)
	for k, it := range items {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"item":`...)
		b = appendString(b, it.Item)
		b = append(b, `,"score":`...)
		b = appendFloat(b, it.Score)
		b = append(b, '}')
	}
	b = append(b, ']')
	if fallback {
		b = append(b, `,"fallback":true`...)
	}
	if popular > 0 {
		b = append(b, `,"popular":`...)
		b = strconv.AppendInt(b, int64(popular), 10)
	}
	b = append(b, `,"version":`...)
	b = appendString(b, version)
	return append(b, "}\n"...)
}

// appendFloat appends a finite score as encoding/json does: the shortest
// representation that parses back to the same float64, in exponent form
// only for very large or small magnitudes. Scores are finite (the model
// rejects others); a non-finite one, which JSON cannot express, is
// written as null rather than as invalid JSON.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// As encoding/json: e-07 becomes e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// writeJSON writes a 200 application/json response. Small bodies leave
// Content-Length to net/http, which computes it without allocating;
// bodies beyond its buffer get it set here, so they are not chunked.
func writeJSON(w http.ResponseWriter, body []byte) int {
	h := w.Header()
	h["Content-Type"] = jsonType
	if len(body) > 2000 {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(200)
	w.Write(body)
	return 200
}

var jsonType = []string{"application/json"}

// appendString appends s as a JSON string, byte for byte as
// encoding/json.Marshal writes it: quotes, backslashes and control
// characters escaped, <, > and & as \u003c etc., U+2028 and U+2029
// escaped, and invalid UTF-8 replaced by \ufffd. Plain ids are copied
// in one append.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes a JSON string holds as they are.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

func writeRaw(w http.ResponseWriter, code int, body string) int {
	w.Header()["Content-Type"] = jsonType
	w.WriteHeader(code)
	io.WriteString(w, body+"\n")
	return code
}

// writeError writes {"error":"..."}.
func writeError(w http.ResponseWriter, code int, msg string) int {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return writeRaw(w, code, string(b))
}

func methodNotAllowed(w http.ResponseWriter, allow string) int {
	w.Header().Set("Allow", allow)
	return writeError(w, 405, "method not allowed: use "+allow)
}

// serve runs srv until ctx is done, then shuts it down gracefully: the
// listener closes at once and in-flight requests get up to grace to finish.
func serve(ctx context.Context, srv *http.Server, listen func() error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- listen() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
