// Package bigqueryio reads interaction events from BigQuery in parallel over
// the BigQuery Storage Read API, as the pipeline's alternative to files.
//
// Read reads a table (bq://PROJECT.DATASET.TABLE); ReadQuery runs a standard
// SQL query job and reads its anonymous result table. Both create one read
// session at pipeline construction time, so that a missing table, a denied
// permission or an unusable column type fails the launch with a message that
// says what to fix, and so that every stream reads the same snapshot of the
// table. The session's streams are reshuffled and each is read by one
// element of a DoFn, which decodes the Arrow record batches, resumes a
// broken stream from its last row offset, and turns rows into events through
// the same validation as files (interactions.Parser.Event). The session must
// be read within its lifetime, 6 hours from the launch.
package bigqueryio
