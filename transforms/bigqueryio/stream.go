package bigqueryio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	storage "cloud.google.com/go/bigquery/storage/apiv1"
	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// retryPolicy bounds how a broken stream is resumed: at most max attempts
// in a row that read no row, waiting backoff, doubled each time up to
// maxBackoff, between them.
type retryPolicy struct {
	max        int
	backoff    time.Duration
	maxBackoff time.Duration
}

// transient reports whether a ReadRows error is worth resuming from: the
// connection dropped or the server was briefly unable to serve.
func transient(err error) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	case codes.Internal:
		// Only a broken HTTP/2 stream: other INTERNAL errors are bugs that
		// a retry would only repeat.
		m := s.Message()
		return strings.Contains(m, "RST_STREAM") || strings.Contains(m, "unexpected EOS") ||
			strings.Contains(m, "GOAWAY") || strings.Contains(m, "connection reset")
	}
	return false
}

// readStream reads a stream from its first row to its end, passing each
// serialized Arrow record batch to batch, which returns how many rows it
// held. After a transient error it reopens the stream at the offset of the
// first row not yet passed on, so each row is passed exactly once.
func readStream(ctx context.Context, c *storage.BigQueryReadClient, stream string, p retryPolicy, batch func([]byte) (int64, error)) error {
	var offset int64
	failures := 0
	wait := p.backoff
	for {
		before := offset
		err := readFrom(ctx, c, stream, &offset, batch)
		if err == nil {
			return nil
		}
		var be batchError
		if errors.As(err, &be) || !transient(err) || ctx.Err() != nil {
			return err
		}
		if offset > before { // progress: the stream is healthy again
			failures, wait = 0, p.backoff
		}
		failures++
		if failures > p.max {
			return fmt.Errorf("giving up after %d attempts without progress at row %d: %w", failures, offset, err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, p.maxBackoff)
	}
}

// batchError is a failure of the batch callback, never retried.
type batchError struct{ error }

func (e batchError) Unwrap() error { return e.error }

// readFrom makes one ReadRows call from *offset and advances *offset past
// every batch handed on.
func readFrom(ctx context.Context, c *storage.BigQueryReadClient, stream string, offset *int64, batch func([]byte) (int64, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows, err := c.ReadRows(ctx, &storagepb.ReadRowsRequest{ReadStream: stream, Offset: *offset})
	if err != nil {
		return err
	}
	for {
		resp, err := rows.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		data := resp.GetArrowRecordBatch().GetSerializedRecordBatch()
		if len(data) == 0 {
			continue // a progress or throttle message
		}
		n, err := batch(data)
		if err != nil {
			return batchError{err}
		}
		if want := resp.GetRowCount(); want != 0 && n != want {
			return batchError{fmt.Errorf("stream %s: a batch at row %d holds %d rows, the response says %d", stream, *offset, n, want)}
		}
		*offset += n
	}
}
