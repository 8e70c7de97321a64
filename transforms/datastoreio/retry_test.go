package datastoreio

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRetryClassification(t *testing.T) {
	tests := []struct {
		err         error
		retry, bise bool
	}{
		{status.Error(codes.Unavailable, ""), true, false},
		{status.Error(codes.DeadlineExceeded, ""), true, false},
		{status.Error(codes.Aborted, ""), true, false},
		{status.Error(codes.ResourceExhausted, ""), true, false},
		{status.Error(codes.Internal, ""), true, false},
		{fmt.Errorf("wrapped: %w", status.Error(codes.Unavailable, "")), true, false},
		{status.Error(codes.InvalidArgument, ""), false, true},
		{status.Error(codes.FailedPrecondition, ""), false, true},
		{status.Error(codes.PermissionDenied, ""), false, false},
		{status.Error(codes.Unauthenticated, ""), false, false},
		{status.Error(codes.NotFound, ""), false, false},
		{errors.New("plain"), false, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.retry {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.retry)
		}
		if got := entityError(tt.err); got != tt.bise {
			t.Errorf("entityError(%v) = %v, want %v", tt.err, got, tt.bise)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	r := Retry{InitialBackoff: time.Second, MaxBackoff: 60 * time.Second}
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{6, 16 * time.Second, 32 * time.Second},
		{7, 30 * time.Second, 60 * time.Second},
		{100, 30 * time.Second, 60 * time.Second}, // no overflow
	}
	for _, tt := range tests {
		for _, jitter := range []float64{0, 0.25, 0.5, 0.999999} {
			if d := backoff(r, tt.attempt, jitter); d < tt.lo || d > tt.hi {
				t.Errorf("backoff(attempt %d, jitter %v) = %v, want in [%v, %v]", tt.attempt, jitter, d, tt.lo, tt.hi)
			}
		}
		if lo := backoff(r, tt.attempt, 0); lo != tt.lo {
			t.Errorf("backoff(attempt %d, jitter 0) = %v, want %v", tt.attempt, lo, tt.lo)
		}
	}
}
