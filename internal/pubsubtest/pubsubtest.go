// Package pubsubtest runs the Google Cloud Pub/Sub emulator (the Google
// Cloud CLI's pubsub-emulator component) for tests, and creates topics and
// subscriptions and publishes to them through the real client library.
package pubsubtest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/recsys/itemsim/internal/emulator"
	"google.golang.org/protobuf/types/known/durationpb"
)

// EmulatorRequiredEnv names the environment variable that, when "1", turns a
// missing emulator into a test failure instead of a skip (see
// emulator.Spec.RequiredEnv).
const EmulatorRequiredEnv = "PUBSUB_EMULATOR_REQUIRED"

// spec runs the emulator's launcher, which execs java: stopping it is a
// kill of its pid.
var spec = emulator.Spec{
	Name:      "Cloud Pub/Sub",
	Component: "pubsub-emulator",
	Jar:       "bin/cloud-pubsub-emulator",
	Launcher:  "bin/cloud-pubsub-emulator",
	Package:   "google-cloud-cli-pubsub-emulator",
	Args: func(host string, port int) []string {
		return []string{"--host=" + host, "--port=" + strconv.Itoa(port)}
	},
	RequiredEnv: EmulatorRequiredEnv,
}

// Emulator is a Pub/Sub emulator run by a test.
type Emulator struct {
	*emulator.Process
}

// StartEmulator starts an emulator, points the client libraries of this
// process at it (PUBSUB_EMULATOR_HOST, restored when t ends) and stops it
// when t ends.
func StartEmulator(t *testing.T) *Emulator {
	t.Helper()
	e := &Emulator{emulator.Start(t, spec)}
	t.Setenv("PUBSUB_EMULATOR_HOST", e.Host)
	return e
}

// Subscription creates topic and a subscription to it in project, with the
// given acknowledgement deadline, retaining acknowledged messages for an
// hour (so that a seek delivers them again), and returns its name.
func (e *Emulator) Subscription(t testing.TB, project, topic, sub string, ackDeadline time.Duration) string {
	t.Helper()
	c := e.client(t, project)
	ctx := context.Background()
	tn := fmt.Sprintf("projects/%s/topics/%s", project, topic)
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: tn}); err != nil {
		t.Fatalf("pubsubtest: creating %s: %v", tn, err)
	}
	sn := fmt.Sprintf("projects/%s/subscriptions/%s", project, sub)
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sn, Topic: tn,
		AckDeadlineSeconds: int32(ackDeadline / time.Second), RetainAckedMessages: true, MessageRetentionDuration: durationpb.New(time.Hour)}); err != nil {
		t.Fatalf("pubsubtest: creating %s: %v", sn, err)
	}
	return sn
}

// Publish publishes each payload to the topic, waiting for every result.
func (e *Emulator) Publish(t testing.TB, project, topic string, payloads [][]byte) {
	t.Helper()
	c := e.client(t, project)
	p := c.Publisher(topic)
	defer p.Stop()
	ctx := context.Background()
	results := make([]*pubsub.PublishResult, len(payloads))
	for i, d := range payloads {
		results[i] = p.Publish(ctx, &pubsub.Message{Data: d})
	}
	for i, r := range results {
		if _, err := r.Get(ctx); err != nil {
			t.Fatalf("pubsubtest: publishing message %d: %v", i, err)
		}
	}
}

// Pending pulls what the subscription would deliver now, without
// acknowledging it: the messages nobody acknowledged whose deadline has
// passed.
func (e *Emulator) Pending(t testing.TB, project, sub string) int {
	t.Helper()
	c := e.client(t, project)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: sub, MaxMessages: 1000})
	if err != nil {
		t.Fatalf("pubsubtest: pulling %s: %v", sub, err)
	}
	return len(resp.GetReceivedMessages())
}

func (e *Emulator) client(t testing.TB, project string) *pubsub.Client {
	t.Helper()
	c, err := pubsub.NewClient(context.Background(), project)
	if err != nil {
		t.Fatalf("pubsubtest: client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
