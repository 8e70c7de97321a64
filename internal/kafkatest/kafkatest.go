// Package kafkatest runs franz-go's in-process Kafka cluster (kfake) for
// tests, benchmarks and a local broker (runners/kafkalocal), and
// produces records into it.
package kafkatest

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is an in-process Kafka cluster with one topic.
type Cluster struct {
	*kfake.Cluster
	Topic string
}

// Start runs a one-broker cluster holding topic with the given partitions;
// the test's cleanup closes it.
func Start(t testing.TB, topic string, partitions int32) *Cluster {
	t.Helper()
	c, err := New(topic, partitions, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// New runs a one-broker cluster holding topic with the given partitions,
// listening on port (0: a free one); Close stops it.
func New(topic string, partitions int32, port int) (*Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	return &Cluster{Cluster: c, Topic: topic}, nil
}

// RecordsFromCSV reads an interactions CSV with a header into one JSON
// message per row, the header's names as keys and every value a string,
// as a producer keyed by user writes them: each user's rows to one of the
// partitions (by a hash of userField's value), in time order (timeField's
// value, unix seconds), at their time.
func RecordsFromCSV(r io.Reader, userField, timeField string, partitions uint32) ([]*kgo.Record, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("kafkatest: no header")
	}
	header := rows[0]
	user, at := slices.Index(header, userField), slices.Index(header, timeField)
	if user < 0 || at < 0 {
		return nil, fmt.Errorf("kafkatest: the header %q has no %q or %q column", header, userField, timeField)
	}
	type timed struct {
		time   int64
		record *kgo.Record
	}
	var out []timed
	for _, row := range rows[1:] {
		t, err := strconv.ParseInt(row[at], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("kafkatest: row %q: %w", row, err)
		}
		msg := make(map[string]string, len(header))
		for k, name := range header {
			msg[name] = row[k]
		}
		v, err := json.Marshal(msg)
		if err != nil {
			return nil, err
		}
		h := fnv.New32a()
		h.Write([]byte(row[user]))
		out = append(out, timed{t, &kgo.Record{Partition: int32(h.Sum32() % partitions), Timestamp: time.Unix(t, 0), Value: v}})
	}
	slices.SortStableFunc(out, func(a, b timed) int { return cmp.Compare(a.time, b.time) })
	records := make([]*kgo.Record, len(out))
	for k, x := range out {
		records[k] = x.record
	}
	return records, nil
}

// Brokers are the cluster's listen addresses.
func (c *Cluster) Brokers() []string { return c.ListenAddrs() }

// Produce writes records to the cluster's topic synchronously, each to the
// partition its Partition field names, at its Timestamp.
func (c *Cluster) Produce(records []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic(c.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pending := records
	for attempt := 1; ; attempt++ {
		var failed []*kgo.Record
		var err error
		for _, r := range cl.ProduceSync(ctx, pending...) {
			if r.Err != nil {
				failed, err = append(failed, r.Record), r.Err
			}
		}
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, kerr.CorruptMessage) || attempt == maxAttempts:
			return fmt.Errorf("producing %d records: %d failed: %w", len(records), len(failed), err)
		}
		// kfake, under load, now and then refuses a well-formed batch as
		// corrupt; a refused batch is not appended, and franz-go fails the
		// partition's later records with it, so sending the failed records
		// again keeps each partition's order.
		pending = failed
	}
}

// maxAttempts bounds the sends of a record kfake refuses as corrupt.
const maxAttempts = 3
