// Command serving answers recommendation requests in microseconds from an
// in-memory copy of the item-similarity model: the pipeline's JSONL output
// (--similarities) or the live version in Datastore (--datastore_project),
// reloaded atomically when it changes, with the pipeline's popular items
// (--popular) as the fallback.
//
//	go run ./serving --similarities=out/similarities.jsonl --popular=out/popular.json
//
// Routes:
//
//	GET  /make_recommendation?browsed=A,B&basket=C&purchased=D&n=10
//	     the seed API: one parameter per action of --weights, items
//	     comma-separated; n in 1..100 (default 10); and the scoring
//	     options below.
//	POST /v1/recommendations
//	     {"items":[{"item":"A","action":"browsed"},{"item":"B","weight":2.5}],"n":10,
//	      "include_seen":false,"normalize":false,"neighbors":20}
//	     each item with an action of --weights or a weight used as is;
//	     "model":"als" folds the items in against an ALS run's item
//	     factors instead of scoring neighbours ("itemknn", the default).
//	GET  /v1/similar/{item}?n=10
//	     the item's stored neighbours; 404 when it has none.
//	GET  /v1/users/{user}/recommendations?n=10
//	     an ALS run's precomputed list of the user; the popular list
//	     ("fallback":true) for a user without one.
//	GET  /healthz, /readyz (503 until a model is loaded), /metrics (Prometheus).
//
// Scoring options, each a query parameter of the seed API and a field of
// the POST body; one a request leaves out takes its flag's value:
//
//	include_seen=true|false  the customer's own items may be recommended
//	                         (--include_seen, default false)
//	normalize=true|false     divide each score by the sum of the
//	                         similarities that made it (--normalize,
//	                         default false)
//	neighbors=K              score with each customer item's K best
//	                         neighbours only, K in 0..1000, 0 the whole
//	                         list (--neighbors, default 0)
//
// Recommendations answer {"result":[{"item":"X","score":1.23},...],
// "version":"..."}, n items whenever the popular list allows: when fewer
// than n items score, popular items that are not already listed or the
// customer's own follow the scored ones, and "popular":k says that the
// last k items are from the popular list (scored by their number of
// users); "fallback":true says that nothing scored. Requests with more
// than 200 items, more than 64 query parameters, an n outside 1..100, a
// scoring option out of its range, an unknown parameter or action, or a
// malformed body get 400 and {"error":"..."}; unknown items are ignored.
// A model whose similarities are not finite, are negative or exceed what
// the run's similarity measure gives is refused (the previous one stays):
// a cosine, Jaccard, LLR or lift score is at most 1 (+1e-9 for rounding),
// co-occurrence counts and asymmetric cosine are unbounded, and the
// measure is the one the run recorded in its manifest or Datastore version
// marker, cosine when it recorded none. A reload serves the similarities
// and the popular list of one run: the files that match the run's manifest
// (<similarities>.manifest.json, labelled with its version), or the
// Datastore version with its own popular list (docs/serving.md). An ALS
// run's manifest also names its user lists, item factors and settings,
// loaded with the rest and checked the same way; the ALS routes answer
// 409 while the served model has none.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // on http.DefaultServeMux, served only by --pprof_addr
	"os"
	"os/signal"
	"syscall"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/recommend"
	"github.com/recsys/itemsim/simstore"
)

var (
	addr         = flag.String("addr", "127.0.0.1:8080", "Listen address.")
	similarities = flag.String("similarities", "", "The pipeline's JSONL output (--output); or set --datastore_project.")
	popular      = flag.String("popular", "", "The pipeline's --popular_output file: the fallback when nothing scores (optional; from Datastore, only for versions stored without their own popular list).")
	dsProject    = flag.String("datastore_project", "", "Read the live version of the Datastore versioned layout in this project instead of --similarities (honours DATASTORE_EMULATOR_HOST).")
	dsDatabase   = flag.String("datastore_database", "", "Datastore named database; empty is the default database.")
	dsNamespace  = flag.String("datastore_namespace", "", "Datastore namespace; empty is the default namespace.")
	dsKind       = flag.String("datastore_kind", simstore.DefaultKind, "Datastore kind of item entities, as the pipeline wrote them (the streaming job's default: ItemSimilarityLive).")
	dsLayout     = flag.String("datastore_layout", simstore.LayoutVersioned, "Datastore layout read: versioned (the batch jobs': the live version, reloaded when the pointer moves) or live (the streaming job's lists, followed every --live_interval).")
	liveInterval = flag.Duration("live_interval", 500*time.Millisecond, "How often to read the lists the streaming job wrote since the last read (--datastore_layout=live); 0 reads once.")
	weights      = flag.String("weights", "browsed:0.5,basket:2,purchased:6", "Action weights, action:weight comma-separated: the actions requests may name.")
	aggregate    = flag.String("aggregate", "sum", "One weight per item of a request: sum of its actions' weights, or max (as the pipeline's --aggregate).")
	clip         = flag.Float64("clip_score", -1, "Cap each item's weight (default -1: the largest action weight; 0 disables), as the pipeline's --clip_score.")
	normalize    = flag.Bool("normalize", false, "Divide each score by the sum of the similarities that made it; a request's normalize overrides it.")
	neighbors    = flag.Int("neighbors", 0, "Score with each customer item's best neighbours only, this many (0..1000; 0: its whole list); a request's neighbors overrides it.")
	includeSeen  = flag.Bool("include_seen", false, "Let the customer's own items be recommended; a request's include_seen overrides it.")
	reload       = flag.Duration("reload_interval", time.Minute, "How often to check the source (file stamps or the Datastore pointer) and reload a changed model; 0 loads once.")
	grace        = flag.Duration("shutdown_grace", 10*time.Second, "Time in-flight requests get to finish on SIGINT/SIGTERM.")
	gcHeadroom   = flag.Int("gc_headroom_mb", 64, "After each model load, raise the GC percentage so the heap may grow this many MB past the live heap (the model) between collections: fewer collections, a shorter latency tail. 0, or GOGC in the environment, keeps Go's default.")
	pprofAddr    = flag.String("pprof_addr", "", "Serve net/http/pprof on this separate address, e.g. 127.0.0.1:6060 (default: off).")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "serving:", err)
		os.Exit(1)
	}
}

// scoringDefaults checks the scoring flags and returns them as the options
// requests start from. An action of --weights may not be named like an
// option: the seed API could not tell them apart.
func scoringDefaults(p recommend.Profiler, normalize, includeSeen bool, neighbors int) (recommend.Options, error) {
	for _, name := range optionParams {
		if _, ok := p.Weights[name]; ok {
			return recommend.Options{}, fmt.Errorf("--weights names an action %q, the name of a query option", name)
		}
	}
	if err := checkNeighbors(neighbors); err != nil {
		return recommend.Options{}, fmt.Errorf("--neighbors=%d: %v", neighbors, err)
	}
	return recommend.Options{Normalize: normalize, IncludeSeen: includeSeen, Neighbors: neighbors}, nil
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := recommend.NewProfiler(*weights, *aggregate, *clip)
	if err != nil {
		return err
	}
	defaults, err := scoringDefaults(p, *normalize, *includeSeen, *neighbors)
	if err != nil {
		return err
	}
	var src source
	var follow *liveFollower
	switch {
	case (*similarities == "") == (*dsProject == ""):
		return fmt.Errorf("set exactly one of --similarities and --datastore_project")
	case *similarities != "":
		src = fileSource{similarities: *similarities, popular: *popular}
	case *dsLayout != simstore.LayoutVersioned && *dsLayout != simstore.LayoutLive:
		return fmt.Errorf("--datastore_layout=%q: want %s or %s", *dsLayout, simstore.LayoutVersioned, simstore.LayoutLive)
	default:
		client, err := datastore.NewClientWithDatabase(ctx, *dsProject, *dsDatabase)
		if err != nil {
			return err
		}
		defer client.Close()
		if *dsLayout == simstore.LayoutLive {
			if follow, err = newLiveFollower(client, *dsNamespace, *dsKind, *popular); err != nil {
				return err
			}
		} else if src, err = newDatastoreSource(client, *dsNamespace, *dsKind, *popular); err != nil {
			return err
		}
	}
	s := newServer(p, defaults)
	// Load before listening would delay /healthz; instead listen at once
	// and report ready (/readyz) when the first model is in.
	if follow != nil {
		follow.srv = s
		go every(ctx, *liveInterval, follow.check)
	} else {
		r := &reloader{src: src, srv: s, gcHeadroom: int64(*gcHeadroom) << 20}
		go every(ctx, *reload, r.check)
	}

	if *pprofAddr != "" {
		plis, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return err
		}
		slog.Info("pprof", "addr", plis.Addr().String())
		go http.Serve(plis, http.DefaultServeMux)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	slog.Info("listening", "addr", lis.Addr().String())
	return serve(ctx, srv, func() error { return srv.Serve(lis) }, *grace)
}
