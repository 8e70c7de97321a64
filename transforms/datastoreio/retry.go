package datastoreio

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clock is time as the writer sees it; tests inject a fake one so backoff,
// throttling and ramp-up are checked without sleeping.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryable reports whether err is transient. Writes are upserts, so
// retrying a commit that was applied after all is harmless.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Internal:
		return true
	}
	return false
}

// entityError reports whether err may be caused by one entity of a batch,
// so bisecting the batch can name it.
func entityError(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

// backoff is the delay before retry number attempt (1-based): exponential
// from InitialBackoff, capped at MaxBackoff, jittered into [d/2, d] by
// jitter in [0, 1). Jitter only spreads retries in time; what is written
// does not depend on it.
func backoff(r Retry, attempt int, jitter float64) time.Duration {
	d := r.InitialBackoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	return d/2 + time.Duration(jitter*float64(d/2))
}
