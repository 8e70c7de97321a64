// Command kafkalocal runs a local Kafka broker for the streaming job when
// none is installed: franz-go's in-process cluster (kfake) listening on
// 127.0.0.1:--port, its --topic holding --input's interactions (a CSV with a
// header) as JSON messages, each user's to one of --partitions in time
// order, at their event time, as a producer keyed by user writes them.
// It prints "ready" once they are in, and serves until it is stopped.
//
//	go run ./runners/kafkalocal --input=testdata/interactions.csv &
//	bin/realtime --kafka_brokers=127.0.0.1:9092 --kafka_topic=events --kafka_start=earliest --time_field=time ...
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/recsys/itemsim/internal/kafkatest"
)

var (
	port       = flag.Int("port", 9092, "Port the broker listens on, on 127.0.0.1 (it must be free).")
	topic      = flag.String("topic", "events", "Topic that holds the interactions.")
	partitions = flag.Int("partitions", 4, "Partitions of the topic.")
	input      = flag.String("input", "testdata/interactions.csv", "Interactions CSV with a header, produced to the topic at start.")
	userField  = flag.String("user_field", "user", "Header name of the user column (the messages' key for partitioning).")
	timeField  = flag.String("time_field", "time", "Header name of the time column (unix seconds): the messages' order and timestamps.")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kafkalocal:", err)
		os.Exit(1)
	}
}

func run() error {
	if *port <= 0 || *port > 65535 {
		return fmt.Errorf("--port=%d: want a port in 1..65535", *port)
	}
	if *partitions <= 0 {
		return fmt.Errorf("--partitions=%d: want at least 1", *partitions)
	}
	f, err := os.Open(*input)
	if err != nil {
		return err
	}
	records, err := kafkatest.RecordsFromCSV(f, *userField, *timeField, uint32(*partitions))
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	c, err := kafkatest.New(*topic, int32(*partitions), *port)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Produce(records); err != nil {
		return err
	}
	fmt.Printf("ready: %d messages in topic %s (%d partitions) at %s\n", len(records), *topic, *partitions, c.Brokers()[0])
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
