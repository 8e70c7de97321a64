package options

import (
	"flag"
	"fmt"
	"time"

	"github.com/recsys/itemsim/transforms/interactions"
	"github.com/recsys/itemsim/transforms/pubsubio"
)

// PubSub are the flags of the Pub/Sub source (see transforms/pubsubio).
type PubSub struct {
	subscription, seek *string
	readers            *int
	lag                *time.Duration
	stopWhenIdle       *bool
}

// RegisterPubSub registers --pubsub_subscription, --pubsub_readers,
// --pubsub_lag, --pubsub_seek and --pubsub_stop_when_idle on fs.
func RegisterPubSub(fs *flag.FlagSet) *PubSub {
	return &PubSub{
		subscription: fs.String("pubsub_subscription", "", "Pub/Sub subscription of the interactions, projects/PROJECT/subscriptions/NAME, one record per message (read the stream from Pub/Sub; PUBSUB_EMULATOR_HOST is honoured)."),
		readers:      fs.Int("pubsub_readers", 4, "Parallel pull loops on the subscription."),
		lag:          fs.Duration("pubsub_lag", time.Second, "The watermark stays this far behind the wall clock (Pub/Sub does not order delivery)."),
		seek:         fs.String("pubsub_seek", "", "Seek the subscription at the launch: window (to the start of the --window that ends now, so a restarted job rebuilds its model; needs retain_acked_messages), or a time; empty: no seek."),
		stopWhenIdle: fs.Bool("pubsub_stop_when_idle", false, "Finish once a pull finds nothing (draining a backlog, tests)."),
	}
}

// Enabled reports whether --pubsub_subscription is set.
func (p *PubSub) Enabled() bool { return *p.subscription != "" }

// Config is the validated source configuration; windowStart resolves
// --pubsub_seek=window (unix seconds: the start of the window that ends now).
func (p *PubSub) Config(windowStart int64) (pubsubio.Config, error) {
	c := pubsubio.Config{Subscription: *p.subscription, Readers: *p.readers, Lag: *p.lag, StopWhenIdle: *p.stopWhenIdle}
	if *p.readers < 1 {
		return c, fmt.Errorf("--pubsub_readers=%d: want at least 1", *p.readers)
	}
	switch *p.seek {
	case "":
	case "window":
		c.SeekTo = time.Unix(windowStart, 0)
	default:
		sec, err := interactions.ParseTime(*p.seek)
		if err != nil {
			return c, fmt.Errorf("--pubsub_seek=%q: want window, a time or nothing (%v)", *p.seek, err)
		}
		c.SeekTo = time.Unix(sec, 0)
	}
	return c, c.Validate()
}
