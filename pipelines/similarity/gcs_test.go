package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/recsys/itemsim/internal/jobtest"
)

// TestGCSInputAndOutput reads a gs:// glob and writes gs:// outputs through
// Beam's GCS filesystem and the real storage client, against fake-gcs-server
// started in the test (STORAGE_EMULATOR_HOST points the client at it). The
// output must equal a local run's, byte for byte.
func TestGCSInputAndOutput(t *testing.T) {
	lines := strings.SplitAfter(readFile(t, fixture), "\n")
	header, rows := lines[0], lines[1:]
	half := len(rows) / 2
	server, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: 0, PublicHost: "127.0.0.1", // object reads come to this host
		InitialObjects: []fakestorage.Object{
			{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "events", Name: "in/part-0.csv"}, Content: []byte(header + strings.Join(rows[:half], ""))},
			{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "events", Name: "in/part-1.csv"}, Content: []byte(header + strings.Join(rows[half:], ""))},
			{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "events", Name: "other/ignored.csv"}, Content: []byte("junk\n")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", server.URL())

	local := filepath.Join(t.TempDir(), "local.jsonl")
	mustRun(t, "--input="+fixture, "--output="+local)
	res := mustRun(t, "--input=gs://events/in/*.csv", "--output=gs://events/out/sim.jsonl")
	obj, err := server.GetObject("events", "out/sim.jsonl")
	if err != nil {
		t.Fatalf("output object: %v", err)
	}
	if string(obj.Content) != readFile(t, local) {
		t.Errorf("gs:// output (%d bytes) differs from the local output", len(obj.Content))
	}
	if _, err := server.GetObject("events", "out/sim.dead_letter.jsonl"); err != nil {
		t.Errorf("dead letter object: %v", err)
	}
	if n := jobtest.Counter(res, "interactions/rows"); n != 5000 {
		t.Errorf("rows = %d, want 5000 (both parts, not other/)", n)
	}

	_, err = runJob(t, "--input=gs://events/missing/*.csv", "--output=gs://events/out/x.jsonl")
	if err == nil || !strings.Contains(err.Error(), "gs://events/missing/*.csv matches no file") {
		t.Errorf("missing gs:// input: err = %v", err)
	}
}
