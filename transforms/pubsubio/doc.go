// Package pubsubio reads a Google Cloud Pub/Sub subscription as an
// unbounded stream with the client library's synchronous Pull
// (cloud.google.com/go/pubsub/v2/apiv1), on every runner whose Go SDK
// harness supports bundle finalization: Prism and Dataflow. (Beam's own
// io/pubsubio only translates to Dataflow's native source; Flink has no
// bundle finalization, so this read cannot acknowledge there: use Kafka.)
//
// Read checks the subscription when the pipeline is built, so that a wrong
// name or a missing permission fails the launch with what to fix. It then
// runs Config.Readers pull loops, each one element of a splittable DoFn
// whose restriction only counts its pulls (Pub/Sub has no offsets).
//
// Delivery is at least once, and no message is acknowledged before the
// runner has committed the output it became: each element returns within
// CheckpointEvery, and the acknowledgement of what it pulled is a bundle
// finalization callback, which runs only after the bundle's output is
// durable. A bundle that fails is never acknowledged: its messages come
// again once the subscription's acknowledgement deadline passes (set it
// well above CheckpointEvery plus the time a bundle takes to commit; 60 s
// is safe). Redelivered messages are emitted again; the consumer must be
// idempotent (the real-time model is: a rating is a maximum).
//
// Watermark: each message is emitted at its publish time. Pub/Sub does not
// order delivery, so a reader's watermark is the oldest publish time of its
// last pull, capped at the wall clock minus Config.Lag, and the wall clock
// minus Lag when a pull finds nothing; it never moves back. A message
// published more than Lag before it is read can be behind the watermark:
// the consumer decides how late it may be.
//
// The client honours PUBSUB_EMULATOR_HOST (the Pub/Sub emulator).
package pubsubio
