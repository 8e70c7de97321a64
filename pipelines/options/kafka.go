package options

import (
	"flag"
	"strconv"
	"strings"
	"time"

	"github.com/recsys/itemsim/transforms/kafkaio"
)

// Kafka are the flags of the Kafka source (see transforms/kafkaio).
type Kafka struct {
	brokers, topic, start *string
	stopAtEnd             *bool
	idleLag               *time.Duration
}

// RegisterKafka registers --kafka_brokers, --kafka_topic, --kafka_start,
// --kafka_stop_at_end and --kafka_idle_lag on fs.
func RegisterKafka(fs *flag.FlagSet) *Kafka {
	return &Kafka{
		brokers:   fs.String("kafka_brokers", "", "Kafka seed brokers, host:port comma-separated (with --kafka_topic: read the stream from Kafka)."),
		topic:     fs.String("kafka_topic", "", "Kafka topic of the interactions, one record per message; every partition is read."),
		start:     fs.String("kafka_start", "window", "Where the read starts: window (the first record of the --window that ends now: a restarted job rebuilds its model), earliest, latest, or a time (unix seconds or a date)."),
		stopAtEnd: fs.Bool("kafka_stop_at_end", false, "Read each partition up to its end at the launch, then finish (replays of a topic, tests)."),
		idleLag:   fs.Duration("kafka_idle_lag", time.Second, "A caught-up partition's watermark moves to the wall clock minus this (0: record time only, for topics of old events)."),
	}
}

// Enabled reports whether --kafka_topic is set.
func (k *Kafka) Enabled() bool { return *k.topic != "" }

// Config is the validated source configuration; windowStart resolves
// --kafka_start=window (unix seconds: the start of the window that ends now).
func (k *Kafka) Config(windowStart int64) (kafkaio.Config, error) {
	c := kafkaio.Config{Topic: *k.topic, Start: *k.start, StopAtEnd: *k.stopAtEnd, IdleLag: *k.idleLag}
	if *k.brokers != "" {
		c.Brokers = strings.Split(*k.brokers, ",")
	}
	if c.Start == "window" {
		c.Start = strconv.FormatInt(windowStart, 10)
	}
	return c, c.Validate()
}
