package flink

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cronJobKeys are the fields cronjob.yaml may use, nested as in the file (a
// sequence's entry describes its items; nil: any value). A misspelt field,
// which Kubernetes would drop, fails the test.
var cronJobKeys = map[string]any{
	"apiVersion": nil, "kind": nil,
	"metadata": map[string]any{"name": nil, "labels": nil},
	"spec": map[string]any{
		"schedule": nil, "timeZone": nil, "concurrencyPolicy": nil, "startingDeadlineSeconds": nil,
		"successfulJobsHistoryLimit": nil, "failedJobsHistoryLimit": nil, "suspend": nil,
		"jobTemplate": map[string]any{"spec": map[string]any{
			"backoffLimit": nil, "activeDeadlineSeconds": nil,
			"template": map[string]any{
				"metadata": map[string]any{"labels": nil},
				"spec": map[string]any{
					"restartPolicy": nil,
					"containers": map[string]any{
						"name": nil, "image": nil, "command": nil, "args": nil, "workingDir": nil, "resources": nil,
						"volumeMounts": map[string]any{"name": nil, "mountPath": nil, "readOnly": nil},
					},
					"volumes": map[string]any{"name": nil, "persistentVolumeClaim": map[string]any{"claimName": nil}},
				},
			},
		}},
	},
}

// checkKeys reports the keys of doc that schema does not list.
func checkKeys(t *testing.T, doc, schema any, path string) {
	t.Helper()
	fields, ok := schema.(map[string]any)
	if !ok {
		return
	}
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			sub, known := fields[k]
			if !known {
				t.Errorf("cronjob.yaml: unknown field %s%s", path, k)
				continue
			}
			checkKeys(t, v, sub, path+k+".")
		}
	case []any:
		for i, v := range d {
			checkKeys(t, v, schema, path+"["+strconv.Itoa(i)+"].")
		}
	}
}

// field returns the value at a dotted path of doc, failing the test when a
// step is missing or not a mapping.
func field(t *testing.T, doc any, path string) any {
	t.Helper()
	v := doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("cronjob.yaml: %s: %q is not a mapping", path, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("cronjob.yaml has no %s", path)
		}
	}
	return v
}

// stringList is a YAML sequence of scalars.
func stringList(t *testing.T, v any, what string) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is not a list: %v", what, v)
	}
	out := make([]string, len(l))
	for i, e := range l {
		if out[i], ok = e.(string); !ok {
			t.Fatalf("%s[%d] is not a string: %v", what, i, e)
		}
	}
	return out
}

// launch is how a schedule starts the launcher: the executable, and its
// --name=value flags.
type launch struct {
	exe   string
	flags map[string]string
}

// flagsOf maps each --name=value of args to its value.
func flagsOf(t *testing.T, what string, args []string) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Errorf("%s: argument %q is not --name=value", what, a)
			continue
		}
		if _, dup := flags[name]; dup {
			t.Errorf("%s: --%s given twice", what, name)
		}
		flags[name] = value
	}
	return flags
}

// cronJob is cronjob.yaml's schedule and launch, its fields checked.
func cronJob(t *testing.T) (schedule, zone string, l launch) {
	t.Helper()
	doc := loadYAML(t, "cronjob.yaml")
	checkKeys(t, doc, cronJobKeys, "")
	if v, k := field(t, doc, "apiVersion"), field(t, doc, "kind"); v != "batch/v1" || k != "CronJob" {
		t.Errorf("apiVersion %v, kind %v: want batch/v1 CronJob", v, k)
	}
	if p := field(t, doc, "spec.concurrencyPolicy"); p != "Forbid" {
		t.Errorf("concurrencyPolicy %v: want Forbid, or two nights' jobs share the cluster", p)
	}
	for _, path := range []string{"spec.startingDeadlineSeconds", "spec.successfulJobsHistoryLimit", "spec.failedJobsHistoryLimit",
		"spec.jobTemplate.spec.backoffLimit", "spec.jobTemplate.spec.activeDeadlineSeconds"} {
		if v, _ := field(t, doc, path).(string); !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(v) {
			t.Errorf("%s = %v: want a positive count", path, field(t, doc, path))
		}
	}
	pod := "spec.jobTemplate.spec.template.spec"
	if p := field(t, doc, pod+".restartPolicy"); p != "Never" && p != "OnFailure" {
		t.Errorf("restartPolicy %v: a Job's pods need Never or OnFailure", p)
	}
	containers, _ := field(t, doc, pod+".containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%d containers: want the launcher alone", len(containers))
	}
	command := stringList(t, field(t, containers[0], "command"), "command")
	if len(command) != 1 {
		t.Fatalf("command %q: want the launcher binary alone, its flags in args", command)
	}
	l = launch{exe: command[0], flags: flagsOf(t, "cronjob.yaml", stringList(t, field(t, containers[0], "args"), "args"))}
	schedule, _ = field(t, doc, "spec.schedule").(string)
	zone, _ = field(t, doc, "spec.timeZone").(string)
	return schedule, zone, l
}

// unit is a systemd unit file: each section's settings, continuation
// lines joined, in order.
type unit map[string]map[string][]string

func loadUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: want Key=value in a section: %q", path, n+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// one returns a setting given exactly once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	if v := u[section][key]; len(v) == 1 {
		return v[0]
	}
	t.Fatalf("[%s] %s= is set %d times, want once", section, key, len(u[section][key]))
	return ""
}

// serviceLaunch is the service's ExecStart with the defaults of its
// Environment= settings in place of ${NAME}, less the $NAME words (ARGS:
// more flags from the environment file, none by default).
func serviceLaunch(t *testing.T, u unit) launch {
	t.Helper()
	env := map[string]string{}
	for _, kv := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	execStart := u.one(t, "Service", "ExecStart")
	if strings.ContainsAny(execStart, `"'`) {
		t.Fatalf("ExecStart %q: quoting is not checked here; write the flags without quotes", execStart)
	}
	words := strings.Fields(execStart)
	var args []string
	for _, w := range words[1:] {
		if name, ok := strings.CutPrefix(w, "$"); ok && !strings.HasPrefix(name, "{") {
			if _, ok := env[name]; !ok {
				t.Errorf("ExecStart's %s has no Environment= default", w)
			}
			continue
		}
		args = append(args, regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(w, func(ref string) string {
			v, ok := env[ref[2:len(ref)-1]]
			if !ok || v == "" {
				t.Errorf("ExecStart's %s has no Environment= default", ref)
			}
			return v
		}))
	}
	return launch{exe: words[0], flags: flagsOf(t, "ExecStart", args)}
}

// binaryFlags builds pipelines/similarity into dir and returns the binary
// and the flags its -h lists: its own and the Beam runner flags.
func binaryFlags(t *testing.T, dir string) (string, map[string]bool) {
	t.Helper()
	bin := filepath.Join(dir, "similarity")
	build := exec.Command("go", "build", "-o", bin, "./pipelines/similarity")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./pipelines/similarity: %v\n%s", err, out)
	}
	// -h prints the flags and exits; its status is the flag package's.
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -(\w+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	for _, f := range []string{"runner", "endpoint", "environment_type", "worker_binary", "window", "output"} {
		if !flags[f] {
			t.Fatalf("%s -h does not list -%s:\n%s", bin, f, out)
		}
	}
	return bin, flags
}

// runFlinkFlags are the flags `make run-flink` passes the launcher.
func runFlinkFlags(t *testing.T) map[string]string {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "-n", "-f", "runners/runners.mk", "run-flink",
		"ENDPOINT=localhost:8099", "INPUT=/srv/itemsim/in.csv", "OUTPUT=/srv/itemsim/out.jsonl")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run-flink: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(out), "\\\n", " "), "\n") {
		if words := strings.Fields(line); slices.Contains(words, "--runner=flink") {
			return flagsOf(t, "make run-flink", words[1:])
		}
	}
	t.Fatalf("make -n run-flink launches nothing with --runner=flink:\n%s", out)
	return nil
}

// calendar is a daily time of day in a zone: a cron schedule "M H * * *"
// with its time zone, or an OnCalendar "*-*-* HH:MM:SS ZONE".
type calendar struct {
	hour, minute int
	zone         *time.Location
}

// at is the calendar's time on a day.
func (c calendar) at(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, c.hour, c.minute, 0, 0, c.zone)
}

func parseCron(t *testing.T, schedule, zone string) calendar {
	t.Helper()
	f := strings.Fields(schedule)
	if len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		t.Fatalf("schedule %q: want a daily M H * * *", schedule)
	}
	m, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	loc, err3 := time.LoadLocation(zone)
	if err1 != nil || err2 != nil || err3 != nil || m > 59 || h > 23 {
		t.Fatalf("schedule %q in %q: %v %v %v", schedule, zone, err1, err2, err3)
	}
	return calendar{h, m, loc}
}

func parseOnCalendar(t *testing.T, spec string) calendar {
	t.Helper()
	m := regexp.MustCompile(`^\*-\*-\* (\d\d):(\d\d):00 (\S+)$`).FindStringSubmatch(spec)
	if m == nil {
		t.Fatalf("OnCalendar=%s: want a daily *-*-* HH:MM:00 ZONE", spec)
	}
	h, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	loc, err := time.LoadLocation(m[3])
	if err != nil {
		t.Fatalf("OnCalendar=%s: %v", spec, err)
	}
	return calendar{h, minute, loc}
}

// TestSchedules checks that the CronJob and the systemd timer run the same
// launch at the same time, with flags the pipeline's binary takes, as
// `make run-flink` launches it.
func TestSchedules(t *testing.T) {
	schedule, zone, job := cronJob(t)
	service, timer := loadUnit(t, "similarity-daily.service"), loadUnit(t, "similarity-daily.timer")
	daemon := serviceLaunch(t, service)
	dir := t.TempDir()
	bin, known := binaryFlags(t, dir)

	t.Run("same time", func(t *testing.T) {
		cron, onCalendar := parseCron(t, schedule, zone), parseOnCalendar(t, timer.one(t, "Timer", "OnCalendar"))
		// Both name a time of day in a zone: the same instants all year.
		for _, month := range []time.Month{time.January, time.April, time.July, time.October} {
			if a, b := cron.at(2026, month, 1), onCalendar.at(2026, month, 1); !a.Equal(b) {
				t.Errorf("on %s 1 the CronJob runs at %s, the timer at %s", month, a.UTC(), b.UTC())
			}
		}
		if p := timer.one(t, "Timer", "Persistent"); p != "true" {
			t.Errorf("Persistent=%s: want true, so that a night missed while the host was down runs at boot", p)
		}
		if d, ok := timer["Timer"]["RandomizedDelaySec"]; ok {
			if v, err := time.ParseDuration(strings.ReplaceAll(d[0], "min", "m")); err != nil || v > 15*time.Minute {
				t.Errorf("RandomizedDelaySec=%s: want at most 15min, close to the CronJob's time", d[0])
			}
		}
		if u, ok := timer["Timer"]["Unit"]; ok && u[0] != "similarity-daily.service" {
			t.Errorf("the timer starts %s, not similarity-daily.service", u[0])
		}
		if w := timer.one(t, "Install", "WantedBy"); w != "timers.target" {
			t.Errorf("WantedBy=%s: want timers.target", w)
		}
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Log("systemd-analyze is not installed: OnCalendar's next elapses are not checked")
			return
		}
		cmd := exec.Command(sa, "calendar", "--iterations=2", timer.one(t, "Timer", "OnCalendar"))
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze calendar: %v\n%s", err, out)
		}
		var elapses []time.Time
		for _, m := range regexp.MustCompile(`(?m)(?:Next elapse|Iter\. #\d+): \w+ (\S+ \S+) UTC$`).FindAllStringSubmatch(string(out), -1) {
			at, err := time.Parse(time.DateTime, m[1])
			if err != nil {
				t.Fatal(err)
			}
			elapses = append(elapses, at)
		}
		if len(elapses) != 2 || elapses[1].Sub(elapses[0]) != 24*time.Hour {
			t.Fatalf("systemd-analyze calendar: want two elapses a day apart:\n%s", out)
		}
		for _, e := range elapses {
			if want := cron.at(e.In(cron.zone).Date()); !e.Equal(want) {
				t.Errorf("the timer elapses at %s, the CronJob runs at %s that day", e, want.UTC())
			}
		}
	})

	t.Run("same launch", func(t *testing.T) {
		if got := service.one(t, "Service", "Type"); got != "oneshot" {
			t.Errorf("Type=%s: want oneshot, a run that ends", got)
		}
		names := func(f map[string]string) []string {
			var n []string
			for k := range f {
				n = append(n, k)
			}
			slices.Sort(n)
			return n
		}
		if a, b := names(job.flags), names(daemon.flags); !slices.Equal(a, b) {
			t.Errorf("the CronJob's flags %q, the service's %q: want the same", a, b)
		}
		for _, l := range []struct {
			what string
			launch
		}{{"cronjob.yaml", job}, {"similarity-daily.service", daemon}} {
			for name := range l.flags {
				if !known[name] {
					t.Errorf("%s: --%s is not a flag of the pipeline's binary", l.what, name)
				}
			}
			if l.flags["worker_binary"] != l.exe {
				t.Errorf("%s runs %s but ships --worker_binary=%s: the workers must run the launcher's build", l.what, l.exe, l.flags["worker_binary"])
			}
			if !strings.HasSuffix(l.flags["endpoint"], ":8099") {
				t.Errorf("%s: --endpoint=%s, want the job server's job port 8099 (compose.yaml)", l.what, l.flags["endpoint"])
			}
			// The window keeps events by --time_field; the manifest that
			// --popular_output brings orders the nights' versions.
			for _, name := range []string{"input", "output", "popular_output", "time_field"} {
				if l.flags[name] == "" {
					t.Errorf("%s: no --%s", l.what, name)
				}
			}
		}
		// The values that are not paths or addresses are the same, and
		// those make run-flink passes.
		want := runFlinkFlags(t)
		want["window"], want["time_field"] = "720h", job.flags["time_field"]
		for _, name := range []string{"runner", "environment_type", "environment_config", "window", "time_field"} {
			if job.flags[name] != want[name] || daemon.flags[name] != want[name] {
				t.Errorf("--%s: CronJob %q, service %q, want %q", name, job.flags[name], daemon.flags[name], want[name])
			}
		}
		for name := range want {
			if _, ok := job.flags[name]; !ok && name != "parallelism" {
				t.Errorf("make run-flink passes --%s, the schedules do not", name)
			}
		}
		// The image's binary is where the Flex Template Dockerfile puts it
		// when built without build arguments (PIPELINE's default, similarity).
		dockerfile, err := os.ReadFile("../../templates/dataflow/Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		defaults := map[string]string{}
		for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)$`).FindAllSubmatch(dockerfile, -1) {
			defaults[string(m[1])] = string(m[2])
		}
		m := regexp.MustCompile(`ENV FLEX_TEMPLATE_GO_BINARY=(\S+)`).FindSubmatch(dockerfile)
		if m == nil {
			t.Fatal("the template Dockerfile sets no FLEX_TEMPLATE_GO_BINARY")
		}
		if exe := os.Expand(string(m[1]), func(k string) string { return defaults[k] }); exe != job.exe {
			t.Errorf("the CronJob runs %s, the template image holds its binary at %s (%s)", job.exe, exe, m[1])
		}
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed: the units are not verified")
		}
		// The units as installed, with the launcher at the test's build
		// (verify requires the executable to exist).
		for _, name := range []string{"similarity-daily.service", "similarity-daily.timer"} {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.ReplaceAll(b, []byte("ExecStart="+daemon.exe+" "), []byte("ExecStart="+bin+" "))
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(sa, "verify", filepath.Join(dir, "similarity-daily.service"), filepath.Join(dir, "similarity-daily.timer"))
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// TestScheduleREADME checks that the README tells how to install, watch
// and pause both schedules.
func TestScheduleREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Run it every night",
		"kubectl apply -f runners/flink/cronjob.yaml",
		`kubectl patch cronjob similarity-daily -p '{"spec":{"suspend":true}}'`,
		"kubectl create job --from=cronjob/similarity-daily",
		"systemctl enable --now similarity-daily.timer",
		"journalctl -u similarity-daily.service",
		"systemctl disable --now similarity-daily.timer",
		"--window=720h",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("README.md does not mention %s", want)
		}
	}
}
