package pubsubio

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/internal/pubsubtest"
)

func init() {
	register.Function1x1(messageData)
	register.DoFn1x0[Message](&failBundle{})
}

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

func messageData(m Message) string { return string(m.Data) }

// failBundle fails its bundle once every message of it has been emitted:
// the read's output is never committed.
type failBundle struct{ n int }

func (f *failBundle) ProcessElement(Message) { f.n++ }

func (f *failBundle) FinishBundle() error {
	return fmt.Errorf("failing the bundle after %d messages", f.n)
}

func payloads(n int) ([][]byte, []string) {
	var bs [][]byte
	var ss []string
	for i := range n {
		bs = append(bs, []byte(fmt.Sprint("m", i)))
		ss = append(ss, fmt.Sprint("m", i))
	}
	return bs, ss
}

// readAll reads the subscription on Prism with cfg and checks that it
// yields the payloads want.
func readAll(t *testing.T, cfg Config, want []string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	msgs, err := Read(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	passert.EqualsList(s, beam.ParDo(s, messageData, msgs), want)
	ptest.RunAndValidate(t, p)
}

// TestRead publishes 500 messages to the real emulator and reads them with
// three readers on Prism: every message once, and all acknowledged after
// the run (nothing left to deliver).
func TestRead(t *testing.T) {
	e := pubsubtest.StartEmulator(t)
	sub := e.Subscription(t, "p", "events", "reader", 60*time.Second)
	data, want := payloads(500)
	e.Publish(t, "p", "events", data)
	readAll(t, Config{Subscription: sub, Readers: 3, StopWhenIdle: true}, want)
	if n := e.Pending(t, "p", sub); n != 0 {
		t.Fatalf("%d messages left unacknowledged after the run", n)
	}
}

// TestFailedBundleIsNotAcknowledged: a bundle that fails after the read
// emitted its messages acknowledges none of them; once the deadline passes
// they are delivered again, and a good run reads them all.
func TestFailedBundleIsNotAcknowledged(t *testing.T) {
	e := pubsubtest.StartEmulator(t)
	const deadline = 10 * time.Second // the service's minimum
	sub := e.Subscription(t, "p", "events", "reader", deadline)
	data, want := payloads(50)
	e.Publish(t, "p", "events", data)
	cfg := Config{Subscription: sub, Readers: 1, StopWhenIdle: true}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	msgs, err := Read(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	beam.ParDo0(s, &failBundle{}, msgs)
	if err := ptest.Run(p); err == nil || !strings.Contains(err.Error(), "failing the bundle") {
		t.Fatalf("run: %v, want the bundle's failure", err)
	}
	time.Sleep(deadline + time.Second)
	if n := e.Pending(t, "p", sub); n != 50 {
		t.Fatalf("%d of the 50 messages delivered again after the deadline, want all (none acknowledged)", n)
	}
	time.Sleep(deadline + time.Second) // Pending leased them
	readAll(t, cfg, want)
}

// TestSeekRedelivers: after every message was read and acknowledged, a
// read that seeks to a time before they were published reads them again:
// how a job that lost its state rebuilds its window.
func TestSeekRedelivers(t *testing.T) {
	e := pubsubtest.StartEmulator(t)
	sub := e.Subscription(t, "p", "events", "reader", 60*time.Second)
	before := time.Now().Add(-time.Second)
	data, want := payloads(100)
	e.Publish(t, "p", "events", data)
	for _, seek := range []time.Time{{}, before} {
		readAll(t, Config{Subscription: sub, Readers: 2, StopWhenIdle: true, SeekTo: seek}, want)
	}
}

// TestReadFailsFast: a malformed or missing subscription fails at the
// launch, saying what to fix.
func TestReadFailsFast(t *testing.T) {
	e := pubsubtest.StartEmulator(t)
	e.Subscription(t, "p", "events", "reader", 60*time.Second)
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Subscription: "reader"}, "want projects/PROJECT/subscriptions/NAME"},
		{Config{Subscription: "projects/p/subscriptions/reader", Readers: -1}, "--pubsub_readers"},
		{Config{Subscription: "projects/p/subscriptions/nope"}, "nope does not exist"},
	} {
		err := c.cfg.Validate()
		if err == nil {
			_, s := beam.NewPipelineWithRoot()
			_, err = Read(s, c.cfg)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}
