// Package kafkatest runs franz-go's in-process Kafka cluster (kfake) for
// tests and benchmarks, and produces records into it.
package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Topic: topic}
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
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		return fmt.Errorf("producing %d records: %w", len(records), err)
	}
	return nil
}
