// Package interactions reads implicit-feedback logs (user, item, action or
// score, optional time) from delimited or JSONL files and turns each line into
// an Event, routing every line it cannot use to a dead letter with a reason.
// Sources emit Events in Batches, since a runner's cost per element is far
// above the cost of parsing a line.
//
// The parsing is plain Go (Spec, Parser, ParseTime) so that every source,
// files here and BigQuery elsewhere, validates rows the same way; Read is the
// Beam source, a splittable DoFn over files' byte ranges.
package interactions
