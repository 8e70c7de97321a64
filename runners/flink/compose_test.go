// Package flink checks the on-prem Flink deployment of pipelines/similarity
// and pipelines/als (compose.yaml, README.md): which images run, and how
// the job server, the task managers and the Go SDK worker pools are wired.
// It holds tests only.
package flink

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// yamlLines parses the YAML subset compose.yaml and cronjob.yaml are
// written in: block mappings, block sequences of scalars or of mappings
// ("- key: value"), plain or quoted scalars, literal blocks (|) and
// comments. Anything else is an error, so that the files stay checkable.
type yamlLines struct {
	lines []string
	i     int
}

// mappingItem is a sequence item that opens a mapping, "- key: value".
var mappingItem = regexp.MustCompile(`^[A-Za-z_][\w.-]*:(\s|$)`)

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// next skips blank and comment lines and returns the indentation of the
// next line, -1 at the end.
func (y *yamlLines) next() int {
	for ; y.i < len(y.lines); y.i++ {
		if t := strings.TrimSpace(y.lines[y.i]); t != "" && !strings.HasPrefix(t, "#") {
			return indentOf(y.lines[y.i])
		}
	}
	return -1
}

// block parses the mapping or sequence whose lines are indented by indent.
func (y *yamlLines) block(indent int) (any, error) {
	if strings.HasPrefix(strings.TrimSpace(y.lines[y.i]), "-") {
		var seq []any
		for y.next() == indent && strings.HasPrefix(strings.TrimSpace(y.lines[y.i]), "- ") {
			item := strings.TrimPrefix(strings.TrimSpace(y.lines[y.i]), "- ")
			if mappingItem.MatchString(item) {
				// The item's first key, and the keys under it, are
				// indented past the dash.
				y.lines[y.i] = strings.Repeat(" ", indent+2) + item
				m, err := y.block(indent + 2)
				if err != nil {
					return nil, err
				}
				seq = append(seq, m)
				continue
			}
			v, err := scalar(item)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", y.i+1, err)
			}
			seq = append(seq, v)
			y.i++
		}
		return seq, nil
	}
	m := map[string]any{}
	for y.next() == indent {
		key, rest, ok := strings.Cut(strings.TrimSpace(y.lines[y.i]), ":")
		if !ok || strings.HasPrefix(key, "- ") {
			return nil, fmt.Errorf("line %d: want key: value", y.i+1)
		}
		y.i++
		rest = strings.TrimSpace(rest)
		switch {
		case rest == "|":
			var text []string
			for ; y.i < len(y.lines) && (strings.TrimSpace(y.lines[y.i]) == "" || indentOf(y.lines[y.i]) > indent); y.i++ {
				text = append(text, strings.TrimSpace(y.lines[y.i]))
			}
			m[key] = strings.Join(text, "\n") + "\n"
		case rest == "" || strings.HasPrefix(rest, "#"):
			if in := y.next(); in > indent {
				v, err := y.block(in)
				if err != nil {
					return nil, err
				}
				m[key] = v
			} else {
				m[key] = nil
			}
		default:
			v, err := scalar(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", y.i, err)
			}
			m[key] = v
		}
	}
	if in := y.next(); in > indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", y.i+1)
	}
	return m, nil
}

// scalar reads a plain or double-quoted scalar, dropping a trailing comment.
func scalar(s string) (string, error) {
	if strings.HasPrefix(s, `"`) {
		end := strings.Index(s[1:], `"`)
		if end < 0 {
			return "", fmt.Errorf("unterminated string %s", s)
		}
		return s[1 : end+1], nil
	}
	if strings.ContainsAny(s[:1], "[{'&*!|>") {
		return "", fmt.Errorf("unsupported YAML %q", s)
	}
	v, _, _ := strings.Cut(s, " #")
	return strings.TrimSpace(v), nil
}

// service is one compose service, the fields checked here.
type service struct {
	image, networkMode string
	command, volumes   []string
	properties         string
}

// loadYAML parses the YAML file at path with yamlLines.
func loadYAML(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := &yamlLines{lines: strings.Split(string(b), "\n")}
	if y.next() != 0 {
		t.Fatalf("%s is empty", path)
	}
	doc, err := y.block(0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

func loadCompose(t *testing.T) map[string]service {
	t.Helper()
	doc := loadYAML(t, "compose.yaml")
	services, _ := doc.(map[string]any)["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	strs := func(v any) []string {
		var out []string
		for _, e := range v.([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	out := map[string]service{}
	for name, v := range services {
		m := v.(map[string]any)
		s := service{image: m["image"].(string)}
		if c, ok := m["command"]; ok {
			s.command = strs(c)
		}
		if c, ok := m["volumes"]; ok {
			s.volumes = strs(c)
		}
		s.networkMode, _ = m["network_mode"].(string)
		if env, ok := m["environment"].(map[string]any); ok {
			s.properties, _ = env["FLINK_PROPERTIES"].(string)
		}
		out[name] = s
	}
	return out
}

// beamVersion is the Go SDK version go.mod requires, e.g. 2.77.0.
func beamVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github\.com/apache/beam/sdks/v2 v(\d+\.\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require github.com/apache/beam/sdks/v2")
	}
	return string(m[1])
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// byCommand returns the services whose command starts with cmd.
func byCommand(services map[string]service, cmd string) []string {
	var names []string
	for name, s := range services {
		if len(s.command) > 0 && s.command[0] == cmd {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestCompose(t *testing.T) {
	services := loadCompose(t)
	version := beamVersion(t)
	jobmanagers, taskmanagers := byCommand(services, "jobmanager"), byCommand(services, "taskmanager")
	if len(jobmanagers) != 1 || len(taskmanagers) == 0 {
		t.Fatalf("want one Flink job manager and task managers, got %v and %v", jobmanagers, taskmanagers)
	}
	for _, name := range append(slices.Clone(jobmanagers), taskmanagers...) {
		s := services[name]
		if !strings.HasPrefix(s.image, "flink:1.20") {
			t.Errorf("%s runs %s, want Flink 1.20 (the job server's Flink)", name, s.image)
		}
		if !strings.Contains(s.properties, "jobmanager.rpc.address: "+jobmanagers[0]+"\n") {
			t.Errorf("%s's FLINK_PROPERTIES do not point jobmanager.rpc.address at %s", name, jobmanagers[0])
		}
		// The streaming job's state (and the Kafka read's offsets) survive a
		// failure only through checkpoints, which every process must reach.
		for _, want := range []string{"execution.checkpointing.interval: ", "state.checkpoints.dir: file:///checkpoints\n"} {
			if !strings.Contains(s.properties, want) {
				t.Errorf("%s's FLINK_PROPERTIES lack %q", name, want)
			}
		}
		if !slices.Contains(s.volumes, "checkpoints:/checkpoints") {
			t.Errorf("%s does not mount the checkpoints volume at /checkpoints: %v", name, s.volumes)
		}
	}

	var jobservers, pools []string
	for name, s := range services {
		switch {
		case strings.HasPrefix(s.image, "apache/beam_flink"):
			jobservers = append(jobservers, name)
		case strings.HasPrefix(s.image, "apache/beam_go_sdk:"):
			pools = append(pools, name)
		}
	}
	if len(jobservers) != 1 {
		t.Fatalf("job servers %v: want one", jobservers)
	}
	js := services[jobservers[0]]
	if want := "apache/beam_flink1.20_job_server:" + version; js.image != want {
		t.Errorf("job server image %s, want %s (go.mod's Beam)", js.image, want)
	}
	if got, want := flagValue(js.command, "flink-master"), jobmanagers[0]+":8081"; got != want {
		t.Errorf("--flink-master=%s, want %s", got, want)
	}
	if got := flagValue(js.command, "job-host"); got != "0.0.0.0" {
		t.Errorf("--job-host=%s: want 0.0.0.0, or the job service is unreachable outside its container", got)
	}
	// The staged binary must be where the task managers look for it.
	dir := flagValue(js.command, "artifacts-dir")
	if dir == "" {
		t.Fatal("the job server has no --artifacts-dir")
	}
	mount := func(s service) string {
		for _, v := range s.volumes {
			if src, dst, _ := strings.Cut(v, ":"); dst == dir {
				return src
			}
		}
		return ""
	}
	src := mount(js)
	if src == "" {
		t.Fatalf("--artifacts-dir=%s is not a volume of the job server", dir)
	}
	for _, name := range taskmanagers {
		if got := mount(services[name]); got != src {
			t.Errorf("task manager %s mounts %q at %s, want the job server's %q", name, got, dir, src)
		}
	}

	// One worker pool in each task manager's network namespace.
	var served []string
	for _, name := range pools {
		s := services[name]
		if want := "apache/beam_go_sdk:" + version; s.image != want {
			t.Errorf("%s runs %s, want %s (go.mod's Beam)", name, s.image, want)
		}
		if !slices.Equal(s.command, []string{"--worker_pool"}) {
			t.Errorf("%s runs %q, want --worker_pool", name, s.command)
		}
		tm, ok := strings.CutPrefix(s.networkMode, "service:")
		if !ok || !slices.Contains(taskmanagers, tm) {
			t.Errorf("%s's network_mode is %q, want service:<a task manager>", name, s.networkMode)
		}
		served = append(served, tm)
	}
	slices.Sort(served)
	if !slices.Equal(served, taskmanagers) {
		t.Errorf("task managers with a worker pool: %v, want each of %v once", served, taskmanagers)
	}
}

// TestREADME checks that the documented launch matches the deployment.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/similarity-linux-amd64 ./pipelines/similarity",
		"make run-flink PIPELINE=als ENDPOINT=localhost:8099",
		"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o bin/als-linux-amd64 ./pipelines/als",
		"--worker_binary=$PWD/bin/als-linux-amd64",
		"--runner=flink --endpoint=localhost:8099",
		"--environment_type=EXTERNAL --environment_config=localhost:50000",
		"--worker_binary=",
		"--parallelism=",
		"--flink-master=jobmanager:8081",
		"--artifacts-dir=/artifacts",
		"apache/beam_flink1.20_job_server:" + beamVersion(t),
		"apache/beam_go_sdk:" + beamVersion(t),
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md does not mention %s", want)
		}
	}
}
