// Command realtime benchmarks the streaming job (pipelines/realtime) live:
// a synthetic power-law event stream (bench/synth's users, items and action
// mix) is produced into franz-go's in-process Kafka (kfake) at a fixed
// rate, stamped with the wall clock, while the job's binary reads it on
// Prism with --emit_interval=1s and writes its list updates as parts. For
// each offered rate it reports what the job sustained and the freshness:
// every second a probe (a new user buying two new items) is produced, and
// its freshness is the time until a written part holds the probe item's
// list. It also reports the job's peak RSS (VmHWM). Results go to
// --out/realtime.md and realtime.json. With --serving_bin (and the Datastore
// emulator installed), the job also upserts its lists into the emulator and
// the server follows them: each probe is also timed until GET /v1/similar
// shows it.
//
//	go run ./bench/cmd/realtime --bin=bin/realtime --out=docs/bench
//
// The job, the broker and the producer share this machine's cores, as a
// single-node deployment would not; the figures are a floor for the job.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/bench/synth"
	"github.com/recsys/itemsim/internal/datastoretest"
	"github.com/recsys/itemsim/simstore"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var (
	bin        = flag.String("bin", "bin/realtime", "The streaming job's binary (make build).")
	out        = flag.String("out", "docs/bench", "Directory of realtime.md and realtime.json.")
	rates      = flag.String("rates", "2000,5000,10000,20000", "Offered rates, events per second, one run each.")
	duration   = flag.Duration("duration", time.Minute, "How long each rate is offered (after the warm-up).")
	partitions = flag.Int("partitions", 4, "Partitions of the topic.")
	items      = flag.Int("items", 20000, "Catalogue size of the synthetic stream.")
	window     = flag.String("window", "1h", "The job's --window (with --slice=1m --emit_interval=1s).")
	shards     = flag.Int("shards", 4, "The job's --user_shards and --item_shards.")
	jobArgs    = flag.String("job_args", "", "More flags for the job, space-separated (e.g. --recent_n=0 --prune_delta=0.05).")
	servingBin = flag.String("serving_bin", "", "The server's binary (make build), to time the probes at the serving API as well: the job also writes the Datastore emulator's live layout (on this machine's cores too, which slows the job) and the server follows it; empty (the default) skips that.")
)

// Result is one rate's figures.
type Result struct {
	OfferedRate  int     `json:"offered_events_per_sec"`
	Produced     int     `json:"produced_events"`
	Seconds      float64 `json:"seconds"`
	ProducedRate float64 `json:"produced_events_per_sec"`
	Probes       int     `json:"probes"`
	ProbesSeen   int     `json:"probes_seen"`
	FreshP50     float64 `json:"freshness_p50_sec"`
	FreshP99     float64 `json:"freshness_p99_sec"`
	FreshMax     float64 `json:"freshness_max_sec"`
	FreshFirst10 float64 `json:"freshness_first10_median_sec"`
	FreshLast10  float64 `json:"freshness_last10_median_sec"`
	PeakRSSMiB   float64 `json:"job_peak_rss_mib"`
	// The API's: probes that GET /v1/similar showed, and their freshness
	// (produce → shown), when the server ran (APIProbes > 0).
	APIProbes     int     `json:"api_probes,omitempty"`
	APIProbesSeen int     `json:"api_probes_seen,omitempty"`
	APIFreshP50   float64 `json:"api_freshness_p50_sec,omitempty"`
	APIFreshP99   float64 `json:"api_freshness_p99_sec,omitempty"`
	// The store's: probes whose list the Datastore held, and when (produce
	// → stored): what of the API's freshness is the job's writer, the rest
	// being the server's following.
	StoredSeen    int     `json:"stored_probes_seen,omitempty"`
	StoredP50     float64 `json:"stored_freshness_p50_sec,omitempty"`
	StoredP99     float64 `json:"stored_freshness_p99_sec,omitempty"`
	UpdatesLines  int     `json:"update_lines"`
	Sustained     bool    `json:"sustained"`
	SustainedNote string  `json:"note"`
}

func main() {
	flag.Parse()
	if *servingBin != "" {
		emu, err := datastoretest.LaunchEmulator()
		if err != nil {
			fmt.Fprintf(os.Stderr, "realtime bench: %v: the freshness at the serving API is not measured\n", err)
		} else {
			defer emu.Stop()
			store = emu
		}
	}
	var results []Result
	for _, r := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(r)
		if err != nil || rate <= 0 {
			fail(fmt.Errorf("--rates: %q is not a positive rate", r))
		}
		res, err := runRate(rate)
		if err != nil {
			fail(err)
		}
		fmt.Printf("rate %d/s: produced %.0f/s, probes %d/%d seen, freshness p50 %.2fs p99 %.2fs max %.2fs (first 10 %.2fs, last 10 %.2fs), peak RSS %.0f MiB: %s\n",
			rate, res.ProducedRate, res.ProbesSeen, res.Probes, res.FreshP50, res.FreshP99, res.FreshMax, res.FreshFirst10, res.FreshLast10, res.PeakRSSMiB, res.SustainedNote)
		results = append(results, res)
	}
	if err := write(results); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "realtime bench:", err)
	os.Exit(1)
}

// events is a synthetic stream's (user, item, action) rows, in the order
// synth writes them, shuffled by user so the stream interleaves users.
func events(n int) ([][3]string, error) {
	var b bytes.Buffer
	if err := synth.Write(&b, synth.Config{Interactions: n, Items: *items, Seed: 42}); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(&b)
	sc.Scan()
	var rows [][3]string
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		rows = append(rows, [3]string{f[0], f[1], f[2]})
	}
	// A fixed interleaving (stride through the rows) so users' events
	// spread over the run as a live stream's do.
	const stride = 7919
	mixed := make([][3]string, 0, len(rows))
	for s := 0; s < stride && s < len(rows); s++ {
		for i := s; i < len(rows); i += stride {
			mixed = append(mixed, rows[i])
		}
	}
	return mixed, nil
}

// store is the Datastore emulator the job writes and the server follows,
// nil without one.
var store *datastoretest.Emulator

// runRate runs the job against a fresh cluster and offers rate events/s.
func runRate(rate int) (Result, error) {
	res := Result{OfferedRate: rate}
	stream, err := events(rate * int(duration.Seconds()+1))
	if err != nil {
		return res, err
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), "events"))
	if err != nil {
		return res, err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("events"),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	dir, err := os.MkdirTemp("", "realtime-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	prefix := filepath.Join(dir, "updates")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job := exec.CommandContext(ctx, *bin, "--kafka_brokers="+strings.Join(brokers, ","), "--kafka_topic=events",
		"--kafka_start=latest", "--kafka_idle_lag=1s", "--format=csv", "--user_field=0", "--item_field=1", "--action_field=2",
		"--window="+*window, "--slice=1m", "--emit_interval=1s", "--user_shards="+strconv.Itoa(*shards), "--item_shards="+strconv.Itoa(*shards),
		"--output="+prefix)
	job.Args = append(job.Args, strings.Fields(*jobArgs)...)
	var jobLog bytes.Buffer
	job.Stdout, job.Stderr = &jobLog, &jobLog
	var api *apiWatcher
	if store != nil {
		ns := fmt.Sprintf("rate%d", rate)
		job.Args = append(job.Args, "--datastore_project=bench", "--datastore_namespace="+ns)
		job.Env = append(os.Environ(), "DATASTORE_EMULATOR_HOST="+store.Host)
		if api, err = startServer(ctx, ns); err != nil {
			return res, err
		}
		defer api.stop()
	}
	if err := job.Start(); err != nil {
		return res, err
	}
	defer func() { cancel(); _ = job.Wait() }()
	peak := 0.0
	watch := newWatcher(prefix)
	// Warm up: probes until the job writes one (it resolves "latest" when
	// it starts, so earlier records are not read).
	warm := time.Now()
	for k := 0; ; k++ {
		if err := produce(ctx, cl, probe(-1-k)); err != nil {
			return res, err
		}
		time.Sleep(500 * time.Millisecond)
		if watch.poll(); len(watch.seen) > 0 {
			break
		}
		if time.Since(warm) > 2*time.Minute || job.ProcessState != nil {
			return res, fmt.Errorf("the job wrote nothing within 2 minutes:\n%s", tail(jobLog.String()))
		}
	}
	sent := map[string]time.Time{}
	var mu sync.Mutex
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	nextProbe := start
	produced := 0
	var firstErr error
	var wg sync.WaitGroup
	for now := range tick.C {
		elapsed := now.Sub(start)
		if elapsed >= *duration {
			break
		}
		due := int(elapsed.Seconds() * float64(rate))
		batch := make([]*kgo.Record, 0, due-produced+2)
		for ; produced < due && produced < len(stream); produced++ {
			e := stream[produced]
			batch = append(batch, &kgo.Record{Value: []byte(e[0] + "," + e[1] + "," + e[2]), Timestamp: now})
		}
		if !now.Before(nextProbe) {
			k := len(sent)
			batch = append(batch, probe(k)...)
			mu.Lock()
			sent[probeItem(k)] = now
			mu.Unlock()
			if api != nil {
				api.expect(probeItem(k))
			}
			nextProbe = nextProbe.Add(time.Second)
		}
		for _, r := range batch {
			wg.Add(1)
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil && firstErr == nil {
					firstErr = err
				}
				wg.Done()
			})
		}
		watch.poll()
		peak = max(peak, peakRSS(job.Process.Pid))
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	res.Seconds = time.Since(start).Seconds()
	res.Produced = produced
	res.ProducedRate = float64(produced) / res.Seconds
	// Give the last probes time to show (a job that keeps up needs seconds).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		watch.poll()
		peak = max(peak, peakRSS(job.Process.Pid))
		if watch.all(sent) && (api == nil || api.all(len(sent))) {
			break
		}
	}
	if api != nil {
		shown, stored := api.times()
		seen := freshness(shown, sent)
		res.APIProbes, res.APIProbesSeen = len(sent), len(seen)
		if len(seen) > 0 {
			res.APIFreshP50, res.APIFreshP99 = quantile(seen, 0.5), quantile(seen, 0.99)
		}
		inStore := freshness(stored, sent)
		if res.StoredSeen = len(inStore); len(inStore) > 0 {
			res.StoredP50, res.StoredP99 = quantile(inStore, 0.5), quantile(inStore, 0.99)
		}
	}
	var fresh []float64
	var inOrder []float64
	for k := range len(sent) {
		at, ok := watch.seen[probeItem(k)]
		if !ok {
			continue
		}
		d := at.Sub(sent[probeItem(k)]).Seconds()
		fresh = append(fresh, d)
		inOrder = append(inOrder, d)
	}
	res.Probes, res.ProbesSeen = len(sent), len(fresh)
	res.PeakRSSMiB = peak
	res.UpdatesLines = watch.lines
	if len(fresh) > 0 {
		slices.Sort(fresh)
		res.FreshP50, res.FreshP99, res.FreshMax = quantile(fresh, 0.5), quantile(fresh, 0.99), fresh[len(fresh)-1]
		k := min(10, len(inOrder))
		res.FreshFirst10, res.FreshLast10 = median(inOrder[:k]), median(inOrder[len(inOrder)-k:])
	}
	// The job keeps up when every probe showed and the freshness did not
	// grow over the run by more than a second (a backlog, or work that
	// grows with the state, makes the last probes the slowest).
	res.Sustained = res.ProbesSeen == res.Probes && res.FreshLast10 <= res.FreshFirst10+1
	switch {
	case res.Sustained:
		res.SustainedNote = "sustained"
	case res.ProbesSeen < res.Probes:
		res.SustainedNote = fmt.Sprintf("not sustained: %d probes not written 30 s after the run", res.Probes-res.ProbesSeen)
	default:
		res.SustainedNote = "not sustained: freshness grew over the run"
	}
	return res, nil
}

// probe is the k-th probe: a new user buying two new items, so both get a
// list (each other) as soon as the job applies the second.
func probe(k int) []*kgo.Record {
	now := time.Now()
	u := fmt.Sprintf("probe-user-%d", k)
	return []*kgo.Record{
		{Value: []byte(u + "," + probeItem(k) + ",3"), Timestamp: now},
		{Value: []byte(u + "," + probeItem(k) + "-b,3"), Timestamp: now},
	}
}

func probeItem(k int) string { return fmt.Sprintf("probe-%d", k) }

func produce(ctx context.Context, cl *kgo.Client, rs []*kgo.Record) error {
	return cl.ProduceSync(ctx, rs...).FirstErr()
}

// watcher reads the parts the job writes and notes when each probe item's
// first list line appears.
type watcher struct {
	prefix string
	files  map[string]bool
	seen   map[string]time.Time
	lines  int
}

func newWatcher(prefix string) *watcher {
	return &watcher{prefix: prefix, files: map[string]bool{}, seen: map[string]time.Time{}}
}

func (w *watcher) poll() {
	parts, _ := filepath.Glob(w.prefix + "-*.jsonl")
	now := time.Now()
	for _, p := range parts {
		if w.files[p] {
			continue
		}
		w.files[p] = true
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			w.lines++
			var u struct {
				Item string `json:"item"`
			}
			if json.Unmarshal(l, &u) == nil && strings.HasPrefix(u.Item, "probe-") && !strings.HasSuffix(u.Item, "-b") {
				if _, ok := w.seen[u.Item]; !ok {
					w.seen[u.Item] = now
				}
			}
		}
	}
}

func (w *watcher) all(sent map[string]time.Time) bool {
	for k := range sent {
		if _, ok := w.seen[k]; !ok {
			return false
		}
	}
	return true
}

// peakRSS is a process's peak resident set, MiB (VmHWM).
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// freshness is each probe's time from its produce (sent) to at, sorted.
func freshness(at, sent map[string]time.Time) []float64 {
	var out []float64
	for item, t := range at {
		out = append(out, t.Sub(sent[item]).Seconds())
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return quantile(s, 0.5)
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// write writes realtime.json and realtime.md.
func write(results []Result) error {
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "realtime.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Streaming job, live on Prism (`make bench-realtime`)\n\n")
	fmt.Fprintf(&md, "Generated by `go run ./bench/cmd/realtime` on %s: a synthetic power-law stream (bench/synth, %d items) "+
		"produced into kfake (%d partitions) stamped with the wall clock; the job (`%s`) reads it with --window=%s --slice=1m "+
		"--emit_interval=1s, %d user and %d item shards. Freshness: a probe (a new user buying two new items) every second, "+
		"timed from its produce to the first written part holding its list. Each rate offered for %v. The job, the broker and "+
		"the producer share the machine's cores.\n\n", time.Now().UTC().Format("2006-01-02"), *items, *partitions, *bin, *window, *shards, *shards, *duration)
	fmt.Fprintf(&md, "| offered events/s | produced events/s | probes seen | freshness p50 | p99 | max | first 10 | last 10 | job peak RSS | verdict |\n")
	fmt.Fprintf(&md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		fmt.Fprintf(&md, "| %d | %.0f | %d/%d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.0f MiB | %s |\n",
			r.OfferedRate, r.ProducedRate, r.ProbesSeen, r.Probes, r.FreshP50, r.FreshP99, r.FreshMax, r.FreshFirst10, r.FreshLast10, r.PeakRSSMiB, r.SustainedNote)
	}
	if slices.ContainsFunc(results, func(r Result) bool { return r.APIProbes > 0 }) {
		fmt.Fprintf(&md, "\nAt the serving API: the job also upserted its lists into the Datastore emulator's live layout "+
			"and `%s --datastore_layout=live --live_interval=200ms` followed it; a probe is timed from its produce until "+
			"GET /v1/similar/<probe> answers 200 (polled every 100 ms), and until the emulator holds its list (read every 100 ms): "+
			"the difference is the server's following.\n\n", *servingBin)
		fmt.Fprintf(&md, "| offered events/s | probes stored | stored p50 | p99 | probes shown | shown p50 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range results {
			if r.APIProbes > 0 {
				fmt.Fprintf(&md, "| %d | %d/%d | %.2f s | %.2f s | %d/%d | %.2f s | %.2f s |\n", r.OfferedRate, r.StoredSeen, r.APIProbes,
					r.StoredP50, r.StoredP99, r.APIProbesSeen, r.APIProbes, r.APIFreshP50, r.APIFreshP99)
			}
		}
	}
	return os.WriteFile(filepath.Join(*out, "realtime.md"), []byte(md.String()), 0o644)
}

// apiWatcher runs the server following the live layout and notes when
// GET /v1/similar first shows each expected probe item, and when the
// Datastore first holds its list.
type apiWatcher struct {
	addr   string
	server *exec.Cmd
	log    bytes.Buffer
	done   chan struct{}
	client *datastore.Client
	keys   simstore.Keys

	mu              sync.Mutex
	pending, absent []string // not shown, not stored
	seen, stored    map[string]time.Time
}

// startServer starts the server on a free port, following namespace ns of
// the emulator, and polls it every 100 ms for the expected probes.
func startServer(ctx context.Context, ns string) (*apiWatcher, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := lis.Addr().String()
	lis.Close()
	client, err := datastore.NewClient(ctx, "bench", option.WithEndpoint("passthrough:///"+store.Host), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		return nil, err
	}
	w := &apiWatcher{addr: addr, seen: map[string]time.Time{}, stored: map[string]time.Time{}, done: make(chan struct{}),
		client: client, keys: simstore.Keys{Namespace: ns, Kind: "ItemSimilarityLive"}}
	w.server = exec.CommandContext(ctx, *servingBin, "--addr="+addr, "--datastore_project=bench", "--datastore_namespace="+ns,
		"--datastore_kind=ItemSimilarityLive", "--datastore_layout=live", "--live_interval=200ms")
	w.server.Env = append(os.Environ(), "DATASTORE_EMULATOR_HOST="+store.Host)
	w.server.Stdout, w.server.Stderr = &w.log, &w.log
	if err := w.server.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", *servingBin, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			w.server.Process.Kill()
			return nil, fmt.Errorf("%s did not answer within 30 s:\n%s", *servingBin, tail(w.log.String()))
		}
	}
	go w.poll()
	return w, nil
}

func (w *apiWatcher) expect(item string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, item)
	w.absent = append(w.absent, item)
}

func (w *apiWatcher) poll() {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-w.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		w.mu.Lock()
		pending, absent := slices.Clone(w.pending), slices.Clone(w.absent)
		w.mu.Unlock()
		w.readStore(absent)
		for _, item := range pending {
			r, err := client.Get("http://" + w.addr + "/v1/similar/" + item + "?n=1")
			if err != nil {
				continue
			}
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				now := time.Now()
				w.mu.Lock()
				w.seen[item] = now
				w.pending = slices.DeleteFunc(w.pending, func(p string) bool { return p == item })
				w.mu.Unlock()
			}
		}
	}
}

// readStore notes the probes of absent whose list the Datastore holds.
func (w *apiWatcher) readStore(absent []string) {
	if len(absent) == 0 {
		return
	}
	ks := make([]*datastore.Key, len(absent))
	for k, item := range absent {
		ks[k] = w.keys.Item("", item)
	}
	es := make([]simstore.LiveEntity, len(ks))
	err := w.client.GetMulti(context.Background(), ks, es)
	errs, _ := err.(datastore.MultiError)
	if err != nil && errs == nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, item := range absent {
		if (errs == nil || errs[k] == nil) && len(es[k].Items) > 0 {
			w.stored[item] = now
			w.absent = slices.DeleteFunc(w.absent, func(p string) bool { return p == item })
		}
	}
}

// all reports whether n probes were shown.
func (w *apiWatcher) all(n int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen) == n
}

// times are the shown probes' times and the stored ones'.
func (w *apiWatcher) times() (shown, stored map[string]time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.seen), maps.Clone(w.stored)
}

func (w *apiWatcher) stop() {
	close(w.done)
	w.client.Close()
	w.server.Process.Kill()
	_ = w.server.Wait()
}
