package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/jobtest"
	"github.com/recsys/itemsim/internal/kafkatest"
	"github.com/recsys/itemsim/internal/pubsubtest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/incremental"
	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/twmb/franz-go/pkg/kgo"
)

// modelFlags are the model's flags in the Kafka tests and their replay.
var modelFlags = []string{"--window=240h", "--slice=24h", "--emit_interval=24h", "--user_shards=2", "--item_shards=3", "--beam_strict=true"}

// produceFixture writes the fixture's events to the cluster as JSON
// messages, each user's events to one of the partitions in time order at
// their event time (as a producer keyed by user writes them), each event
// twice in a row (an at-least-once producer's retry), and two bad messages.
// It returns the number of messages.
func produceFixture(t *testing.T, c *kafkatest.Cluster, partitions uint32) int {
	t.Helper()
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	once, err := kafkatest.RecordsFromCSV(f, "user", "time", partitions)
	if err != nil {
		t.Fatal(err)
	}
	var records []*kgo.Record
	for _, r := range once {
		records = append(records, r, r)
	}
	last := records[len(records)-1].Timestamp
	records = append(records,
		&kgo.Record{Partition: 0, Timestamp: last, Value: []byte(`{"user":"u1","productSku":"p1","type":"9","time":"1572000000"}`)},
		&kgo.Record{Partition: 1, Timestamp: last, Value: []byte(`not json`)})
	if err := c.Produce(records); err != nil {
		t.Fatal(err)
	}
	return len(records)
}

// storesAt applies updates (in bucket order) and returns the lists held
// after each bucket end.
func storesAt(updates []incremental.Update) map[int64]map[string][]model.Neighbor {
	stores := map[int64]map[string][]model.Neighbor{}
	store := map[string][]model.Neighbor{}
	for k, u := range updates {
		if len(u.Neighbors) == 0 {
			delete(store, u.Item)
		} else {
			store[u.Item] = u.Neighbors
		}
		if k+1 == len(updates) || updates[k+1].End != u.End {
			stores[u.End] = maps.Clone(store)
		}
	}
	return stores
}

func equalStores(a, b map[string][]model.Neighbor) bool {
	return maps.EqualFunc(a, b, func(x, y []model.Neighbor) bool { return slices.Equal(x, y) })
}

// TestKafkaEqualsReplay reads the fixture from a 4-partition topic (each
// message twice) on Prism and replays the file: the two runs write the same
// updates, bucket for bucket (the replay equals the batch job:
// TestReplayEqualsBatchJob); the bad messages reach the dead letter. A job
// restarted at a time (--kafka_start, as the default "window" does at the
// launch) holds, at every bucket whose window starts at or after that time,
// the lists of the job that never stopped, and other lists before.
func TestKafkaEqualsReplay(t *testing.T) {
	c := kafkatest.Start(t, "interactions", 4)
	n := produceFixture(t, c, 4)
	dir := t.TempDir()
	kafkaRun := func(name, start string) []incremental.Update {
		out := filepath.Join(dir, name)
		var updates []incremental.Update
		ok := t.Run(name, func(t *testing.T) {
			res, err := jobtest.RunJob(t, configFromFlags, run, append([]string{"--kafka_brokers=" + strings.Join(c.Brokers(), ","),
				"--kafka_topic=" + c.Topic, "--kafka_start=" + start, "--kafka_stop_at_end=true", "--kafka_idle_lag=0",
				"--time_field=time", "--output=" + out}, modelFlags...)...)
			if err != nil {
				t.Fatal(err)
			}
			if start == "earliest" {
				if got := jobtest.Counter(res, "kafkaio/kafka_records"); got != int64(n) {
					t.Errorf("kafka_records = %d, want the %d produced", got, n)
				}
			}
			updates = readUpdates(t, out)
		})
		if !ok {
			t.FailNow()
		}
		return updates
	}
	full := kafkaRun("kafka", "earliest")
	var reasons []string
	for _, d := range jobtest.ReadJSONLParts[interactions.DeadLetter](t, filepath.Join(dir, "kafka.dead_letter")) {
		reasons = append(reasons, d.Reason+" "+d.File)
	}
	slices.Sort(reasons)
	if want := []string{"malformed_record kafka://interactions", "unknown_action kafka://interactions"}; !slices.Equal(reasons, want) {
		t.Errorf("dead letter %q, want %q", reasons, want)
	}

	replayOut := filepath.Join(dir, "replay")
	t.Run("replay", func(t *testing.T) {
		if _, err := jobtest.RunJob(t, configFromFlags, run, append([]string{"--input=" + fixture, "--time_field=time", "--output=" + replayOut}, modelFlags...)...); err != nil {
			t.Fatal(err)
		}
	})
	replay := readUpdates(t, replayOut)
	if !slices.EqualFunc(full, replay, func(a, b incremental.Update) bool {
		return a.End == b.End && a.Item == b.Item && slices.Equal(a.Neighbors, b.Neighbors)
	}) {
		t.Fatalf("Kafka wrote %d updates, the replay %d, not the same", len(full), len(replay))
	}
	t.Logf("%d updates equal to the replay's", len(full))

	w := incremental.Window{Length: 240 * 3600, Slice: 24 * 3600, Emit: 24 * 3600}
	stores := storesAt(full)
	ends := slices.Sorted(maps.Keys(stores))
	restart := w.Since(ends[len(ends)/2])
	restarted := storesAt(kafkaRun("restarted", fmt.Sprint(restart)))
	equal, before := 0, 0
	for _, end := range ends {
		got, ok := restarted[end]
		switch {
		case w.Since(end) >= restart:
			if !ok && len(stores[end]) > 0 || !equalStores(got, stores[end]) {
				t.Fatalf("at %d (window from %d, restart at %d): %d lists, the uninterrupted job %d", end, w.Since(end), restart, len(got), len(stores[end]))
			}
			equal++
		case ok && !equalStores(got, stores[end]):
			before++
		}
	}
	if equal < 5 || before == 0 {
		t.Fatalf("%d bucket ends after the restart's window equal, %d before it differ: want ≥ 5 and > 0", equal, before)
	}
	t.Logf("restart at %d: %d bucket ends equal to the uninterrupted job, %d earlier ones differ", restart, equal, before)
}

// TestKafkaLive runs the job on an unbounded read of a live topic (Prism,
// in this process): events produced now show in the written lists while
// the job runs, partitions without events do not hold the watermark back
// (--kafka_idle_lag), and cancelling the job stops it. The time from the
// produce to the list's part is logged, not asserted (make bench-realtime
// measures freshness).
func TestKafkaLive(t *testing.T) {
	c := kafkatest.Start(t, "live", 3)
	dir := t.TempDir()
	out := filepath.Join(dir, "updates")
	jobtest.SetFlags(t, "--kafka_brokers="+strings.Join(c.Brokers(), ","), "--kafka_topic="+c.Topic, "--kafka_start=latest",
		"--kafka_idle_lag=1s", "--window=1h", "--slice=1m", "--emit_interval=1s", "--user_shards=2", "--item_shards=2",
		"--output="+out, "--beam_strict=true")
	cfg, err := configFromFlags()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, cfg)
		done <- err
	}()
	// Produce until the job is reading: a record before its launch resolves
	// "latest" would not be read.
	deadline := time.Now().Add(2 * time.Minute)
	var produced time.Time
	for {
		now := time.Now()
		msgs := []*kgo.Record{}
		for _, e := range [][3]string{{"u1", "A", "3"}, {"u1", "B", "3"}, {"u2", "A", "2"}, {"u2", "B", "1"}} {
			v, _ := json.Marshal(map[string]string{"user": e[0], "productSku": e[1], "type": e[2]})
			msgs = append(msgs, &kgo.Record{Partition: 0, Timestamp: now, Value: v})
		}
		if err := c.Produce(msgs); err != nil {
			t.Fatal(err)
		}
		if produced.IsZero() {
			produced = now
		}
		if ups := jobtest.ReadJSONLParts[incremental.Update](t, out); len(ups) > 0 {
			got := ups[0]
			// Σ min over u1, u2 of A and B: min(6,6) + min(2,0.5) = 6.5 of
			// counts 8 and 6.5.
			if got.Item != "A" && got.Item != "B" || len(got.Neighbors) != 1 || got.Neighbors[0].Score != 6.5/math.Sqrt(8*6.5) {
				t.Fatalf("first update %+v, want A and B each other's neighbour at 6.5/√52", got)
			}
			t.Logf("first list written %v after the first produce (end %d)", time.Since(produced).Round(time.Millisecond), got.End)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the job stopped: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no list written within 2 minutes")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the job did not stop within a minute of its cancel")
	}
}

// TestPubSubEqualsReplay publishes the fixture, moved a whole number of
// days into the future, to the real Pub/Sub emulator and reads it with
// three readers until the subscription is drained: the updates equal the
// replay of the same moved events. (In the future, no bucket is due while
// the messages are read, however Pub/Sub orders them; the read's end then
// moves the watermark past every bucket.)
func TestPubSubEqualsReplay(t *testing.T) {
	e := pubsubtest.StartEmulator(t)
	sub := e.Subscription(t, "p", "interactions", "realtime", 60*time.Second)
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var first int64 = math.MaxInt64
	for _, l := range lines[1:] {
		var ts int64
		fmt.Sscan(l[strings.LastIndexByte(l, ',')+1:], &ts)
		first = min(first, ts)
	}
	const day = 86400
	shift := (time.Now().Unix()/day+2)*day - first/day*day
	moved := []string{lines[0]}
	var payloads [][]byte
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		var ts int64
		fmt.Sscan(f[3], &ts)
		f[3] = fmt.Sprint(ts + shift)
		moved = append(moved, strings.Join(f, ","))
		v, _ := json.Marshal(map[string]string{"user": f[0], "productSku": f[1], "type": f[2], "time": f[3]})
		payloads = append(payloads, v)
	}
	e.Publish(t, "p", "interactions", payloads)
	dir := t.TempDir()
	movedCSV := filepath.Join(dir, "moved.csv")
	if err := os.WriteFile(movedCSV, []byte(strings.Join(moved, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := map[string][]string{
		"pubsub": {"--pubsub_subscription=" + sub, "--pubsub_readers=3", "--pubsub_stop_when_idle=true"},
		"replay": {"--input=" + movedCSV},
	}
	got := map[string][]incremental.Update{}
	for _, name := range []string{"pubsub", "replay"} {
		out := filepath.Join(dir, name)
		ok := t.Run(name, func(t *testing.T) {
			if _, err := jobtest.RunJob(t, configFromFlags, run, append(append(runs[name], "--time_field=time", "--output="+out), modelFlags...)...); err != nil {
				t.Fatal(err)
			}
			got[name] = readUpdates(t, out)
		})
		if !ok {
			t.FailNow()
		}
	}
	if !slices.EqualFunc(got["pubsub"], got["replay"], func(a, b incremental.Update) bool {
		return a.End == b.End && a.Item == b.Item && slices.Equal(a.Neighbors, b.Neighbors)
	}) {
		t.Fatalf("Pub/Sub wrote %d updates, the replay %d, not the same", len(got["pubsub"]), len(got["replay"]))
	}
	if n := e.Pending(t, "p", sub); n != 0 {
		t.Errorf("%d messages left unacknowledged", n)
	}
	t.Logf("%d updates equal to the replay's", len(got["replay"]))
}
