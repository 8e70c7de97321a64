package pubsubtest

import (
	"testing"
	"time"
)

// TestEmulatorLifecycle starts the real emulator, publishes through the
// client library and pulls the messages back, and checks that stopping it
// leaves no process of it running.
func TestEmulatorLifecycle(t *testing.T) {
	var e *Emulator
	t.Run("running", func(t *testing.T) {
		e = StartEmulator(t)
		sub := e.Subscription(t, "p", "topic", "sub", 10*time.Second)
		e.Publish(t, "p", "topic", [][]byte{[]byte("a"), []byte("b"), []byte("c")})
		if n := e.Pending(t, "p", sub); n != 3 {
			t.Errorf("pulled %d messages, want the 3 published", n)
		}
	})
	if e == nil {
		return // skipped
	}
	// The subtest's cleanup has stopped the emulator.
	if !e.Exited() {
		t.Errorf("the launcher or a process of its group (java) outlived Stop; log:\n%s", e.Log())
	}
}
