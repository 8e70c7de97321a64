package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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
)

// Route names, as exported in metrics.
const (
	routeMake    = "/make_recommendation"
	routeSimilar = "/v1/similar/{item}"
	routeRecs    = "/v1/recommendations"
	routeHealth  = "/healthz"
	routeReady   = "/readyz"
	routeMetrics = "/metrics"
	routeOther   = "other"
)

// server answers requests from the current model. The model is swapped
// whole (atomic.Pointer), and a request loads it once, so every answer
// comes from exactly one model.
type server struct {
	model     atomic.Pointer[recommend.Model]
	profiler  recommend.Profiler
	normalize bool
	metrics   *metrics
	mux       *http.ServeMux
}

func newServer(p recommend.Profiler, normalize bool) *server {
	s := &server{profiler: p, normalize: normalize,
		metrics: newMetrics(routeMake, routeSimilar, routeRecs, routeHealth, routeReady, routeMetrics, routeOther)}
	s.mux = http.NewServeMux()
	s.handle("/make_recommendation", routeMake, s.makeRecommendation)
	s.handle("/v1/similar/{item}", routeSimilar, s.similar)
	s.handle("/v1/recommendations", routeRecs, s.recommendations)
	s.handle("/healthz", routeHealth, func(w http.ResponseWriter, _ *http.Request) int { return writeRaw(w, 200, `{"status":"ok"}`) })
	s.handle("/readyz", routeReady, s.ready)
	s.handle("/metrics", routeMetrics, s.writeMetrics)
	s.handle("/", routeOther, func(w http.ResponseWriter, _ *http.Request) int { return writeError(w, 404, "no such route") })
	return s
}

// handler writes a response and returns its status code, so metrics need
// no wrapper around the ResponseWriter.
type handler func(w http.ResponseWriter, r *http.Request) int

func (s *server) handle(pattern, route string, h handler) {
	rm := s.metrics.routes[route]
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h(w, r)
		rm.observe(code, time.Since(start))
	})
}

// ServeHTTP makes the server an http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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
	b, _ := json.Marshal(map[string]any{"status": "ready", "version": m.Version(), "items": m.Items()})
	return writeRaw(w, 200, string(b))
}

func (s *server) writeMetrics(w http.ResponseWriter, _ *http.Request) int {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var buf bytes.Buffer
	if m := s.model.Load(); m != nil {
		s.metrics.write(&buf, m.Version(), m.Items(), m.Popular(), true)
	} else {
		s.metrics.write(&buf, "", 0, 0, false)
	}
	w.Write(buf.Bytes())
	return 200
}

// makeRecommendation serves the seed API: GET
// /make_recommendation?browsed=A,B&basket=C&purchased=D&n=10, one
// parameter per action of --weights holding comma-separated items, plus n
// and include_seen.
func (s *server) makeRecommendation(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET")
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	var events []recommend.Event
	o := recommend.Options{N: defaultN, Normalize: s.normalize}
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
		default:
			if _, ok := s.profiler.Weights[kv.key]; !ok {
				return writeError(w, 400, fmt.Sprintf("unknown parameter %q: want n, include_seen or an action (%s)", kv.key, s.profiler.Weights))
			}
			for item := range strings.SplitSeq(kv.value, ",") {
				if item == "" {
					continue
				}
				if len(events) == maxItems {
					return writeError(w, 400, fmt.Sprintf("more than %d items", maxItems))
				}
				events = append(events, recommend.Event{Item: item, Action: kv.key})
			}
		}
	}
	return s.recommend(w, events, o)
}

// recommendationsRequest is the body of POST /v1/recommendations:
//
//	{"items":[{"item":"A","action":"browsed"},{"item":"B","weight":2.5}],
//	 "n":10,"include_seen":false}
//
// Each item has an action of --weights or a weight used as is; n defaults
// to 10.
type recommendationsRequest struct {
	Items []struct {
		Item   string   `json:"item"`
		Action string   `json:"action"`
		Weight *float64 `json:"weight"`
	} `json:"items"`
	N           *int `json:"n"`
	IncludeSeen bool `json:"include_seen"`
}

func (s *server) recommendations(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		return methodNotAllowed(w, "POST")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	var req recommendationsRequest
	if err := dec.Decode(&req); err != nil {
		return writeError(w, 400, "malformed JSON body: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return writeError(w, 400, "malformed JSON body: data after the object")
	}
	o := recommend.Options{N: defaultN, IncludeSeen: req.IncludeSeen, Normalize: s.normalize}
	if req.N != nil {
		if o.N = *req.N; o.N < 1 || o.N > maxN {
			return writeError(w, 400, fmt.Sprintf("n must be in 1..%d", maxN))
		}
	}
	if len(req.Items) > maxItems {
		return writeError(w, 400, fmt.Sprintf("more than %d items", maxItems))
	}
	events := make([]recommend.Event, len(req.Items))
	for k, it := range req.Items {
		switch {
		case it.Item == "":
			return writeError(w, 400, fmt.Sprintf("items[%d]: no item", k))
		case (it.Action == "") == (it.Weight == nil):
			return writeError(w, 400, fmt.Sprintf("items[%d]: give exactly one of action and weight", k))
		}
		events[k] = recommend.Event{Item: it.Item, Action: it.Action}
		if it.Weight != nil {
			events[k].Weight = *it.Weight
		}
	}
	return s.recommend(w, events, o)
}

// recommend profiles the events and answers from one model.
func (s *server) recommend(w http.ResponseWriter, events []recommend.Event, o recommend.Options) int {
	items, weights, err := s.profiler.Profile(events)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	m := s.model.Load()
	if m == nil {
		return writeError(w, 503, "no model loaded yet")
	}
	res := m.Recommend(items, weights, o)
	return writeResult(w, res.Items, res.Fallback, m.Version())
}

// similar serves GET /v1/similar/{item}?n=10.
func (s *server) similar(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return methodNotAllowed(w, "GET")
	}
	n := defaultN
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	for _, kv := range q {
		if kv.key != "n" {
			return writeError(w, 400, fmt.Sprintf("unknown parameter %q: want n", kv.key))
		}
		if n, err = parseN(kv.value); err != nil {
			return writeError(w, 400, err.Error())
		}
	}
	m := s.model.Load()
	if m == nil {
		return writeError(w, 503, "no model loaded yet")
	}
	item := r.PathValue("item")
	res, found := m.Similar(item, n)
	if !found {
		return writeError(w, 404, fmt.Sprintf("item %q has no neighbours", item))
	}
	return writeResult(w, res, false, m.Version())
}

type param struct{ key, value string }

// parseQuery splits a raw query in order, unescaping keys and values, and
// rejects a key given twice (which of the two would win is a guess).
func parseQuery(raw string) ([]param, error) {
	var out []param
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		if k, err = unescape(k); err != nil {
			return nil, err
		}
		if v, err = unescape(v); err != nil {
			return nil, err
		}
		for _, p := range out {
			if p.key == k {
				return nil, fmt.Errorf("parameter %q is given twice", k)
			}
		}
		out = append(out, param{k, v})
	}
	return out, nil
}

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

func parseN(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxN {
		return 0, fmt.Errorf("n must be an integer in 1..%d", maxN)
	}
	return n, nil
}

// bufs recycles response buffers.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// writeResult writes {"result":[{"item":"X","score":1.23},...]}, with
// "fallback":true when the items are the popular fallback, and the model's
// version. It is encoded by hand: this is the hot path.
func writeResult(w http.ResponseWriter, items []recommend.Scored, fallback bool, version string) int {
	bp := bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"result":[`...)
	for k, it := range items {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"item":`...)
		b = appendString(b, it.Item)
		b = append(b, `,"score":`...)
		b = strconv.AppendFloat(b, it.Score, 'g', -1, 64)
		b = append(b, '}')
	}
	b = append(b, ']')
	if fallback {
		b = append(b, `,"fallback":true`...)
	}
	b = append(b, `,"version":`...)
	b = appendString(b, version)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(200)
	w.Write(b)
	*bp = b
	bufs.Put(bp)
	return 200
}

var jsonType = []string{"application/json"}

// appendString appends s as a JSON string. Ids come from JSON or Datastore
// and are valid UTF-8; only quotes, backslashes and control characters
// need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

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
