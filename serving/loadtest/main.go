// Command loadtest loads a running recommendation server (./serving) on
// /make_recommendation with requests of 1 and 10 items drawn from the
// model's items, and prints throughput and latency percentiles per request
// size, concurrency and (for wrk) thread count. --mix selects other
// requests: ALS fold-ins (POST /v1/recommendations with "model":"als"),
// the same POSTs scored by neighbours, and precomputed user lists (GET
// /v1/users/{user}/recommendations); --synth_als writes a synthetic ALS
// run (MovieLens-1M-sized by default) to serve them from.
//
//	go build -o bin/serving ./serving
//	bin/serving --similarities=/tmp/ml100k.jsonl --popular=/tmp/ml100k-popular.json --addr=127.0.0.1:8080 &
//	go run ./serving/loadtest --url=http://127.0.0.1:8080 --similarities=/tmp/ml100k.jsonl \
//	    --concurrency=1,2,4,8 --threads=1,2 --server_pid=$!
//
// serving/loadtest/run.sh does all of that (make loadtest runs it); see
// docs/serving.md for the options and measured results.
//
// Two generators: wrk (the C load generator, Debian package wrk), driven
// through rotate.lua, and a Go one (internal/loadgen). Both are closed
// loops: each connection keeps one request in flight, so latency is
// measured at the throughput the server sustains. --generator=auto uses
// wrk when it is installed. wrk needs far less CPU per request than Go's
// net/http client, which matters because client and server share the
// machine's cores.
//
// The POST mixes need wrk (rotate.lua sends a line "POST path body" as
// such); the Go generator sends GETs only.
//
// Each run also reports how many cores the server, the generator and
// everything else used during the measured window (from /proc), so a run
// disturbed by other work on the machine shows it.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/recsys/itemsim/internal/loadgen"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
)

//go:embed rotate.lua
var rotateLua []byte

var (
	target       = flag.String("url", "http://127.0.0.1:8080", "Base URL of the server.")
	sims         = flag.String("similarities", "/tmp/ml100k.jsonl", "The model's JSONL file, to draw item ids from.")
	sizes        = flag.String("items", "1,10", "Items per request, comma-separated: one run per size.")
	concurrency  = flag.String("concurrency", "", "Requests in flight (connections), comma-separated: one run per level (default: 2 with wrk, 4 with the Go generator, the levels that do best on 2 cores).")
	threads      = flag.String("threads", "2", "wrk threads, comma-separated: one run per count (skipped where above the concurrency).")
	generator    = flag.String("generator", "auto", "Load generator: wrk, go, or auto (wrk when installed).")
	script       = flag.String("script", "", "wrk Lua script (default: the embedded copy of serving/loadtest/rotate.lua).")
	duration     = flag.Duration("duration", 6*time.Second, "Measured time per run (whole seconds with wrk).")
	warmup       = flag.Duration("warmup", 2*time.Second, "Unmeasured time before each run.")
	distinct     = flag.Int("distinct", 10000, "Distinct request paths per size.")
	seed         = flag.Uint64("seed", 1, "Seed of the item draws.")
	waitReady    = flag.Duration("wait_ready", 30*time.Second, "Wait up to this long for the server's /readyz before loading it; 0 does not wait.")
	serverPID    = flag.Int("server_pid", 0, "The server's process id, to report its CPU use (optional).")
	targetRPS    = flag.Float64("target_rps", 20000, "Throughput target, requests/s, for the verdict column.")
	targetP99    = flag.Duration("target_p99", time.Millisecond, "p99 latency target for the verdict column: p99 must be below it.")
	targetP99ALS = flag.Duration("target_p99_als", 2*time.Millisecond, "p99 latency target of the als mix's verdict (issue 12: a fold-in at rank 64 over 3,706 items), which has no throughput target.")
	pathsOut     = flag.String("paths_out", "", "Only write the request paths, one file per size (DIR/paths-N.txt), for running wrk by hand, and exit.")
	mix          = flag.String("mix", mixMake, "Requests, comma-separated, one run each: make (GET /make_recommendation), als (POST /v1/recommendations folding in, \"model\":\"als\"), knn (the same POSTs scored by neighbours) and users (GET /v1/users/{user}/recommendations, users from the ALS manifest beside --similarities). --items sizes the make, als and knn requests.")
	topN         = flag.Int("n", 10, "Items asked for by the als, knn and users requests (make asks for 10).")
	synthDir     = flag.String("synth_als", "", "Only write a synthetic ALS run into this directory (similarities, popular list, user lists, item factors and the manifest naming them with the settings), print its similarities path, and exit.")
	synthItems   = flag.Int("synth_items", 3706, "Items of --synth_als (MovieLens 1M has 3,706).")
	synthUsers   = flag.Int("synth_users", 6040, "Users (precomputed lists) of --synth_als (MovieLens 1M has 6,040).")
	synthRank    = flag.Int("synth_rank", 64, "Rank of --synth_als's factors.")
	synthTopN    = flag.Int("synth_top_n", 20, "Neighbours per item and items per user list of --synth_als.")
	synthImpl    = flag.Bool("synth_implicit", true, "Whether --synth_als's settings say implicit (fold-in adds YᵀY) or explicit.")
	baseline     = flag.Bool("baseline", false, "Instead of --url, load a bare net/http handler in this process that answers every request with a fixed 10-item response: the floor HTTP itself sets on this machine. With --generator=go the client's CPU counts as the server's.")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	if *synthDir != "" {
		c := synthALS{Items: *synthItems, Users: *synthUsers, Rank: *synthRank, TopN: *synthTopN, Implicit: *synthImpl, Seed: *seed}
		path, err := c.write(*synthDir)
		if err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	}
	mixes, err := parseMix(*mix)
	if err != nil {
		return err
	}
	if *topN < 1 {
		return fmt.Errorf("--n=%d: want a positive count", *topN)
	}
	sizeList, err := ints("items", *sizes)
	if err != nil {
		return err
	}
	threadList, err := ints("threads", *threads)
	if err != nil {
		return err
	}
	gen := *generator
	switch gen {
	case "auto":
		if gen = "go"; loadgen.WrkPath() != "" {
			gen = "wrk"
		}
	case "wrk", "go":
	default:
		return fmt.Errorf("--generator=%q: want wrk, go or auto", gen)
	}
	if gen == "go" {
		threadList = []int{0}
		for _, m := range mixes {
			if m == mixALS || m == mixKNN {
				return fmt.Errorf("--mix=%s sends POSTs, which only wrk sends: install wrk or use --generator=wrk", m)
			}
		}
	}
	if *concurrency == "" {
		*concurrency = map[string]string{"wrk": "2", "go": "4"}[gen]
	}
	concList, err := ints("concurrency", *concurrency)
	if err != nil {
		return err
	}

	f, err := os.Open(*sims)
	if err != nil {
		return err
	}
	lists, err := recommend.ReadNeighbors(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %v", *sims, err)
	}
	items := make([]string, len(lists))
	for k, l := range lists {
		items[k] = l.Item
	}
	var users []string
	if slices.Contains(mixes, mixUsers) {
		if users, err = manifestUsers(*sims); err != nil {
			return err
		}
	}
	if *pathsOut != "" {
		for _, m := range mixes {
			for _, n := range mixSizes(m, sizeList) {
				name := fmt.Sprintf("paths-%s-%d.txt", m, n)
				if m == mixMake {
					name = fmt.Sprintf("paths-%d.txt", n)
				}
				file := filepath.Join(*pathsOut, name)
				if err := os.WriteFile(file, []byte(strings.Join(requests(m, items, users, n), "\n")+"\n"), 0o644); err != nil {
					return err
				}
				fmt.Println(file)
			}
		}
		return nil
	}
	base := strings.TrimSuffix(*target, "/")
	if *baseline {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer lis.Close()
		go http.Serve(lis, baselineHandler())
		base, *serverPID = "http://"+lis.Addr().String(), os.Getpid()
	} else if *waitReady > 0 {
		if err := awaitReady(base+"/readyz", *waitReady); err != nil {
			return err
		}
	}
	luaPath := *script
	if gen == "wrk" && luaPath == "" {
		dir, err := os.MkdirTemp("", "loadtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		luaPath = filepath.Join(dir, "rotate.lua")
		if err := os.WriteFile(luaPath, rotateLua, 0o644); err != nil {
			return err
		}
	}

	what := fmt.Sprintf("model=%s (%d items", *sims, len(items))
	if users != nil {
		what += fmt.Sprintf(", %d users", len(users))
	}
	what += ")"
	if *baseline {
		what = "server=baseline (a fixed response from a bare net/http handler)"
	}
	fmt.Printf("generator=%s %s loadavg at start: %s\n", gen, what, loadavg())
	fmt.Printf("target: p99 < %s and >= %.0f req/s; fold-ins (mix=als) p99 < %s\n", *targetP99, *targetRPS, *targetP99ALS)
	for _, m := range mixes {
		for _, n := range mixSizes(m, sizeList) {
			if err := measureMix(ctx, gen, base, luaPath, m, n, requests(m, items, users, n), concList, threadList); err != nil {
				return err
			}
		}
	}
	return nil
}

// measureMix runs one request list at each concurrency and thread count
// and prints a line per run.
func measureMix(ctx context.Context, gen, base, luaPath, m string, n int, paths []string, concList, threadList []int) error {
	for _, c := range concList {
		for _, t := range threadList {
			if t > c {
				continue
			}
			res, cpu, err := measure(ctx, gen, base, luaPath, paths, c, t)
			if err != nil {
				return err
			}
			name := fmt.Sprintf("mix=%s items=%d concurrency=%d", m, n, c)
			if m == mixUsers {
				name = fmt.Sprintf("mix=%s concurrency=%d", m, c)
			}
			if gen == "wrk" {
				name += fmt.Sprintf(" threads=%d", t)
			}
			verdict := "no"
			switch {
			case res.Errors > 0:
			case m == mixALS && res.P99 < *targetP99ALS,
				m != mixALS && res.P99 < *targetP99 && res.Throughput >= *targetRPS:
				verdict = "YES"
			}
			fmt.Printf("%s %s: %s; cpu %s; meets target: %s\n", gen, name, res, cpu, verdict)
		}
	}
	return nil
}

// baselineHandler answers every request with the same 10-item response,
// shaped like the server's, doing nothing else.
func baselineHandler() http.Handler {
	body := []byte(`{"result":[{"item":"50","score":3.1},{"item":"181","score":2.9},{"item":"121","score":2.7},` +
		`{"item":"117","score":2.5},{"item":"405","score":2.3},{"item":"151","score":2.1},{"item":"222","score":1.9},` +
		`{"item":"1","score":1.7},{"item":"7","score":1.5},{"item":"100","score":1.3}],"version":"baseline"}` + "\n")
	ct := []string{"application/json"}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = ct
		w.Write(body)
	})
}

// measure warms up, then runs one measured load, sampling CPU use around
// the measured part only.
func measure(ctx context.Context, gen, base, lua string, paths []string, conc, threads int) (loadgen.Result, cpuUse, error) {
	if gen == "wrk" {
		c := loadgen.WrkConfig{Script: lua, Base: base, Paths: paths, Threads: threads, Connections: conc, Duration: *warmup}
		if *warmup > 0 {
			if _, err := loadgen.RunWrk(ctx, c); err != nil {
				return loadgen.Result{}, cpuUse{}, err
			}
		}
		c.Duration = *duration
		before := sampleCPU(0)
		res, err := loadgen.RunWrk(ctx, c)
		return res, before.since(res.ClientCPU), err
	}
	urls := make([]string, len(paths))
	for k, p := range paths {
		urls[k] = base + p
	}
	if *warmup > 0 {
		if _, err := loadgen.Run(ctx, loadgen.Config{URLs: urls, Concurrency: conc, Duration: *warmup}); err != nil {
			return loadgen.Result{}, cpuUse{}, err
		}
	}
	before := sampleCPU(selfCPU())
	res, err := loadgen.Run(ctx, loadgen.Config{URLs: urls, Concurrency: conc, Duration: *duration})
	return res, before.since(selfCPU() - before.self), err
}

func ints(name, list string) ([]int, error) {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s: %q is not a positive count", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// awaitReady polls url until it answers 200.
func awaitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return fmt.Errorf("server not ready after %s: %s: %v", limit, url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// clockTick is Linux's USER_HZ, the unit of /proc/stat and /proc/PID/stat.
const clockTick = 100

// cpuSample is a point in time's CPU counters.
type cpuSample struct {
	at     time.Time
	busy   float64 // machine, seconds
	steal  float64 // time the hypervisor ran something else, seconds
	server float64 // --server_pid, seconds
	self   time.Duration
}

// cpuUse is the cores each party used over a window.
type cpuUse struct {
	server, client, other, steal float64
	haveServer, ok               bool
}

func (c cpuUse) String() string {
	if !c.ok {
		return "unknown"
	}
	s := fmt.Sprintf("client %.2f, other %.2f cores", c.client, c.other)
	if c.haveServer {
		s = fmt.Sprintf("server %.2f, ", c.server) + s
	} else {
		s += " (other includes the server: no --server_pid)"
	}
	return s + fmt.Sprintf(", steal %.2f", c.steal)
}

func sampleCPU(self time.Duration) cpuSample {
	busy, steal := machineCPU()
	return cpuSample{at: time.Now(), busy: busy, steal: steal, server: pidCPU(*serverPID), self: self}
}

// since is the CPU use from s to now, given the generator's CPU time in
// the window.
func (s cpuSample) since(client time.Duration) cpuUse {
	now := sampleCPU(0)
	secs := now.at.Sub(s.at).Seconds()
	if secs <= 0 || s.busy < 0 || now.busy < 0 {
		return cpuUse{}
	}
	u := cpuUse{ok: true, client: client.Seconds() / secs, steal: (now.steal - s.steal) / secs}
	u.other = (now.busy-s.busy)/secs - u.client
	if *serverPID > 0 && s.server >= 0 && now.server >= 0 {
		u.haveServer = true
		u.server = (now.server - s.server) / secs
		u.other -= u.server
	}
	u.other = max(u.other, 0)
	return u
}

// machineCPU is the machine's non-idle CPU time in seconds, excluding
// steal, and its steal time (the hypervisor running something else), from
// the first line of /proc/stat (user nice system idle iowait irq softirq
// steal ...); -1 when unknown.
func machineCPU() (busy, steal float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1, -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1, -1
	}
	for k, v := range f[1:9] {
		n, _ := strconv.ParseFloat(v, 64)
		switch k {
		case 3, 4: // idle, iowait
		case 7:
			steal = n
		default:
			busy += n
		}
	}
	return busy / clockTick, steal / clockTick
}

// pidCPU is a process's user+system CPU time in seconds; -1 when unknown.
func pidCPU(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name may hold spaces: fields start after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14, utime
	st, _ := strconv.ParseFloat(f[12], 64) // field 15, stime
	return (ut + st) / clockTick
}

// selfCPU is this process's CPU time (the Go generator runs in it).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Request mixes (--mix).
const (
	mixMake  = "make"
	mixALS   = "als"
	mixKNN   = "knn"
	mixUsers = "users"
)

// parseMix reads --mix.
func parseMix(list string) ([]string, error) {
	var out []string
	for m := range strings.SplitSeq(list, ",") {
		switch m = strings.TrimSpace(m); m {
		case mixMake, mixALS, mixKNN, mixUsers:
			out = append(out, m)
		default:
			return nil, fmt.Errorf("--mix: %q is not make, als, knn or users", m)
		}
	}
	return out, nil
}

// mixSizes are the request sizes a mix runs at: a user-list request has
// no items.
func mixSizes(m string, sizes []int) []int {
	if m == mixUsers {
		return []int{0}
	}
	return sizes
}

// requests makes --distinct requests of mix m with n items each (drawn
// from items) or for users drawn from users, seeded by --seed, as
// rotate.lua reads them: a GET path, or "POST path body".
func requests(m string, items, users []string, n int) []string {
	if m == mixMake {
		return loadgen.RecommendationPaths(items, n, *distinct, *seed)
	}
	r := rand.New(rand.NewPCG(*seed, *seed))
	out := make([]string, *distinct)
	if m == mixUsers {
		for k := range out {
			out[k] = fmt.Sprintf("/v1/users/%s/recommendations?n=%d", url.PathEscape(users[r.IntN(len(users))]), *topN)
		}
		return out
	}
	type item struct {
		Item   string `json:"item"`
		Action string `json:"action"`
	}
	actions := []string{"browsed", "basket", "purchased"}
	for k := range out {
		body := struct {
			Model string `json:"model,omitempty"`
			Items []item `json:"items"`
			N     int    `json:"n"`
		}{N: *topN}
		if m == mixALS {
			body.Model = "als"
		}
		for range n {
			body.Items = append(body.Items, item{items[r.IntN(len(items))], actions[r.IntN(len(actions))]})
		}
		b, _ := json.Marshal(body) // strings and ints: cannot fail
		out[k] = "POST /v1/recommendations " + string(b)
	}
	return out
}

// manifestUsers reads the users of the ALS run whose similarities are at
// sims, from the user lists its manifest names.
func manifestUsers(sims string) ([]string, error) {
	path := publish.DefaultPath(sims)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--mix=users needs an ALS run's manifest beside --similarities: %v", err)
	}
	m, err := publish.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m.Users == nil {
		return nil, fmt.Errorf("--mix=users: the manifest %s names no user lists (not an ALS run)", path)
	}
	f, err := os.Open(publish.Resolve(path, m.Users.Path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lists, err := recommend.ReadUserLists(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name(), err)
	}
	if len(lists) == 0 {
		return nil, fmt.Errorf("%s: no user lists", f.Name())
	}
	users := make([]string, len(lists))
	for k, l := range lists {
		users[k] = l.User
	}
	return users, nil
}
