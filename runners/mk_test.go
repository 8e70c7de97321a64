package runners

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeTargets dry-runs runners.mk: the flags each target passes, and
// that it stops, naming the variable, before building anything when one is
// missing or wrong.
func TestMakeTargets(t *testing.T) {
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	root := repoRoot(t)
	local := []string{"INPUT=testdata/interactions.csv", "OUTPUT=out/n.jsonl"}
	gcs := []string{"INPUT=gs://b/in.csv", "OUTPUT=gs://b/out.jsonl"}
	worker := "--worker_binary=" + filepath.Join(root, "bin/similarity-linux-amd64")
	for _, tc := range []struct {
		name string
		vars []string
		want []string // substrings of the output; errors start with "error: "
	}{
		{"flink defaults to the worker pool", append([]string{"run-flink", "ENDPOINT=localhost:8099"}, local...), []string{
			"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/similarity-linux-amd64 ./pipelines/similarity",
			"--runner=flink --endpoint=localhost:8099",
			"--environment_type=EXTERNAL --environment_config=localhost:50000",
			worker,
			"--input=" + filepath.Join(root, "testdata/interactions.csv"),
			"--output=" + filepath.Join(root, "out/n.jsonl"),
		}},
		{"flink docker with parallelism", append([]string{"run-flink", "ENDPOINT=jobserver:8099", "ENV_TYPE=DOCKER", "PARALLELISM=8"}, gcs...), []string{
			"--environment_type=DOCKER", worker, "--parallelism=8", "--input=gs://b/in.csv",
		}},
		{"flink als", append([]string{"run-flink", "ENDPOINT=localhost:8099", "PIPELINE=als", "ARGS=--rank=32 --user_output=/srv/itemsim/users.jsonl"}, local...), []string{
			"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/als-linux-amd64 ./pipelines/als",
			"bin/als-linux-amd64 --runner=flink --endpoint=localhost:8099",
			"--worker_binary=" + filepath.Join(root, "bin/als-linux-amd64"),
			"--output=" + filepath.Join(root, "out/n.jsonl") + " --rank=32 --user_output=/srv/itemsim/users.jsonl",
		}},
		{"flink without endpoint", append([]string{"run-flink"}, local...), []string{"error: ENDPOINT is required"}},
		{"flink with an unknown job", append([]string{"run-flink", "ENDPOINT=localhost:8099", "PIPELINE=nosuchjob"}, local...), []string{"error: PIPELINE=nosuchjob is not a job"}},
		{"dataflow als", append([]string{"run-dataflow", "PROJECT=p", "REGION=r", "BUCKET=b", "PIPELINE=als"}, gcs...), []string{
			"go build -o bin/als-linux-amd64 ./pipelines/als", "--runner=dataflow", "--worker_binary=" + filepath.Join(root, "bin/als-linux-amd64"),
		}},
		{"dataflow with two jobs", append([]string{"run-dataflow", "PROJECT=p", "REGION=r", "BUCKET=b", "PIPELINE=als similarity"}, gcs...), []string{"error: PIPELINE=als similarity is not a job"}},
		{"dataflow with a bucket", append([]string{"run-dataflow", "PROJECT=p", "REGION=europe-west1", "BUCKET=b"}, gcs...), []string{
			"--runner=dataflow --project=p --region=europe-west1", "--staging_location=gs://b/staging", worker,
		}},
		{"dataflow with a staging path", append([]string{"run-dataflow", "PROJECT=p", "REGION=r", "STAGING=gs://s/x"}, gcs...), []string{"--staging_location=gs://s/x"}},
		{"dataflow without staging", append([]string{"run-dataflow", "PROJECT=p", "REGION=r"}, gcs...), []string{"error: STAGING is required: set BUCKET"}},
		{"dataflow without region", append([]string{"run-dataflow", "PROJECT=p", "BUCKET=b"}, gcs...), []string{"error: REGION is required"}},
		{"dataflow with a local input", append([]string{"run-dataflow", "PROJECT=p", "REGION=r", "BUCKET=b"}, local...), []string{"error: INPUT=testdata/interactions.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "-n", "-f", "runners/runners.mk", "GO=go"}, tc.vars...)...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			text := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\\\n", " ")), " ")
			for _, w := range tc.want {
				w, wantErr := strings.CutPrefix(w, "error: ")
				if (err != nil) != wantErr || !strings.Contains(text, w) {
					t.Errorf("make -n %s: error %v, output:\n%s\nwant it to contain %q", strings.Join(tc.vars, " "), err, out, w)
				}
			}
			if err != nil && strings.Contains(text, "go build") {
				t.Errorf("make -n %s builds before it fails:\n%s", strings.Join(tc.vars, " "), out)
			}
		})
	}
}

// TestRealtimeTargets dry-runs the Makefile's streaming targets: the
// replay by default, a Kafka of the user's with KAFKA, and the local
// broker's run that reads it to its end.
func TestRealtimeTargets(t *testing.T) {
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"run-realtime"}, []string{"bin/realtime --input=testdata/interactions.csv --time_field=time --window=240h"}, []string{"--kafka"}},
		{[]string{"run-realtime", "KAFKA=kafka-1:9092"},
			[]string{"bin/realtime --kafka_brokers=kafka-1:9092 --kafka_topic=events --kafka_start=earliest --time_field=time"}, []string{"--input"}},
		{[]string{"run-realtime-kafka"}, []string{"go build -o bin/kafkalocal ./runners/kafkalocal",
			"bin/kafkalocal --port=9092 --input=testdata/interactions.csv",
			"bin/realtime --kafka_brokers=127.0.0.1:9092 --kafka_topic=events --kafka_start=earliest --kafka_stop_at_end=true"}, nil},
	} {
		cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "-n", "GO=go"}, tc.args...)...)
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		text := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\\\n", " ")), " ")
		for _, w := range tc.want {
			if err != nil || !strings.Contains(text, w) {
				t.Errorf("make -n %v: %v, output:\n%s\nwant it to contain %q", tc.args, err, out, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(text, w) {
				t.Errorf("make -n %v: output contains %q:\n%s", tc.args, w, out)
			}
		}
	}
}
