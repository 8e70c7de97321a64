// Package kafkaio reads a Kafka topic as an unbounded stream with franz-go,
// one splittable element per partition.
//
// Read lists the topic's partitions and resolves the start offsets (and, for
// a bounded read, the end offsets) when the pipeline is built, so that
// unreachable brokers or a missing topic fail the launch with a message that
// says what to fix. Each partition is then one element whose restriction is
// an offset range [start, end): unbounded reads use end = MaxInt64 with a
// growable tracker whose end estimate is the partition's high watermark as
// the last fetch reported it. Every record's offset is claimed before it is
// emitted, so a runner that checkpoints the restriction (Dataflow, Flink)
// resumes each partition at the first offset not yet passed on.
//
// Delivery is at least once: a bundle that fails is read again from its
// restriction's start. Offsets that the log no longer holds when they are
// read (retention, compaction, transaction markers) are skipped and counted
// (kafka_skipped_offsets), never silently.
//
// Watermark: an event-time source. Each record is emitted at its Kafka
// timestamp and each partition's watermark is the largest timestamp it has
// read (a record older than that is behind the watermark: the consumer of
// the stream decides how late it may be). A caught-up partition moves its
// watermark to the wall clock minus Config.IdleLag, so that an idle
// partition does not hold the others back; IdleLag 0 keeps the watermark on
// record time only, as a replay of old events through Kafka needs.
//
// The read self-checkpoints (ResumeProcessingIn) every CheckpointEvery or
// after an empty poll, because a runner takes the output and the watermark
// only at checkpoints: on Prism a bundle's output reaches the next stage
// when the element returns. It runs on Prism, Dataflow and Flink (portable),
// which all run Go splittable DoFns with watermark estimators. Partitions
// added to the topic after the launch are not read.
package kafkaio
