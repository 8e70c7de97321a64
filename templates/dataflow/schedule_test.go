package dataflow

import (
	"bytes"
	"encoding/json"
	"maps"
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

// scheduleGCP is the test project, as TestMakeTargets's.
var scheduleGCP = []string{"PROJECT=my-project", "REGION=europe-west1", "BUCKET=my-bucket"}

// fakeGcloud stands in for gcloud: it records each call's arguments,
// NUL-separated, one numbered file per call, and answers describe calls
// with GCLOUD_DESCRIBE_STATUS (0: the job or account exists).
const fakeGcloud = `#!/bin/sh
f="$GCLOUD_CALLS/$(ls "$GCLOUD_CALLS" | wc -l | tr -d ' ')"
printf '%s\0' "$@" > "$f"
case " $* " in *" describe "*) exit "$GCLOUD_DESCRIBE_STATUS" ;; esac
`

// runSchedule runs `make target vars` on schedule.mk from the module root
// with the stand-in gcloud first on PATH, and returns the arguments of each
// gcloud call in order.
func runSchedule(t *testing.T, describeStatus int, target string, vars ...string) [][]string {
	t.Helper()
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	dir := t.TempDir()
	bin, calls := filepath.Join(dir, "bin"), filepath.Join(dir, "calls")
	for _, d := range []string{bin, calls} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(fakeGcloud), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "-f", "templates/dataflow/schedule.mk", target}, vars...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GCLOUD_CALLS="+calls, "GCLOUD_DESCRIBE_STATUS="+strconv.Itoa(describeStatus))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s %q: %v\n%s", target, vars, err, out)
	}
	entries, err := os.ReadDir(calls)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(entries, func(a, b os.DirEntry) int {
		i, _ := strconv.Atoi(a.Name())
		j, _ := strconv.Atoi(b.Name())
		return i - j
	})
	var out [][]string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(calls, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"))
	}
	for _, c := range out {
		checkGcloudSyntax(t, c)
	}
	return out
}

// gcloudCall is one gcloud invocation: its command and positional words,
// and its --name=value flags.
type gcloudCall struct {
	words []string
	flags map[string]string
}

func parseCall(t *testing.T, args []string) gcloudCall {
	t.Helper()
	c := gcloudCall{flags: map[string]string{}}
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			if len(c.flags) > 0 {
				t.Errorf("gcloud %q: positional %q after the flags", args, a)
			}
			c.words = append(c.words, a)
			continue
		}
		name, value, _ := strings.Cut(name, "=")
		if _, dup := c.flags[name]; dup {
			t.Errorf("gcloud %q: --%s given twice", args, name)
		}
		c.flags[name] = value
	}
	return c
}

// gcloudWideFlags are flags every gcloud command takes, which its help
// lists only as GCLOUD_WIDE_FLAG.
var gcloudWideFlags = map[string]bool{"project": true, "format": true}

// gcloudHelp caches `gcloud COMMAND --help` by command.
var gcloudHelp = map[string]string{}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkGcloudSyntax checks, when gcloud is installed, that the command of
// a call exists and takes each flag the call gives, from the command's
// --help (local: no project or credentials needed). Every command here has
// one positional argument after its command words.
func checkGcloudSyntax(t *testing.T, args []string) {
	t.Helper()
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		t.Log("gcloud is not installed: the commands' flags are not checked against its help")
		return
	}
	c := parseCall(t, args)
	if len(c.words) < 2 {
		t.Fatalf("gcloud %q: want command words and a positional argument", args)
	}
	command := strings.Join(c.words[:len(c.words)-1], " ")
	help, ok := gcloudHelp[command]
	if !ok {
		cmd := exec.Command(gcloud, append(c.words[:len(c.words)-1:len(c.words)-1], "--help")...)
		cmd.Env = append(os.Environ(), "CLOUDSDK_CONFIG="+t.TempDir(), "CLOUDSDK_CORE_DISABLE_PROMPTS=1",
			"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gcloud %s --help: %v\n%s", command, err, out)
		}
		help = ansi.ReplaceAllString(string(out), "")
		gcloudHelp[command] = help
	}
	for name := range c.flags {
		if !gcloudWideFlags[name] && !regexp.MustCompile(`--`+regexp.QuoteMeta(name)+`\b[^-]`).MatchString(help) {
			t.Errorf("gcloud %s has no flag --%s (its --help does not list it)", command, name)
		}
	}
}

// launchRequest is the flexTemplates:launch request body, the fields the
// schedule sets; anything else is an error.
type launchRequest struct {
	LaunchParameter struct {
		JobName              string            `json:"jobName"`
		ContainerSpecGcsPath string            `json:"containerSpecGcsPath"`
		Parameters           map[string]string `json:"parameters"`
		Environment          struct {
			TempLocation        string `json:"tempLocation"`
			StagingLocation     string `json:"stagingLocation"`
			ServiceAccountEmail string `json:"serviceAccountEmail"`
		} `json:"environment"`
	} `json:"launchParameter"`
}

// templateSpec is where template-build writes ft's template spec.
func templateSpec(t *testing.T, ft flexTemplate) string {
	t.Helper()
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "-n", "-f", "templates/dataflow/template.mk", "template-build", "PIPELINE=" + ft.pipeline}, scheduleGCP...)...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`gcloud dataflow flex-template build (\S+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("make -n template-build: %v\n%s", err, out)
	}
	return string(m[1])
}

// dataflowJobName is the Dataflow API's rule for job names,
// [a-z]([-a-z0-9]{0,1022}[a-z0-9])?, its length apart (Go's regexp repeats
// at most 1000 times).
var dataflowJobName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// cronSchedule is five fields, as Cloud Scheduler's unix-cron.
var cronSchedule = regexp.MustCompile(`^(\S+ ){4}\S+$`)

// TestScheduleDataflow checks the Cloud Scheduler job schedule-dataflow
// creates, or updates when it exists, and its launch request.
func TestScheduleDataflow(t *testing.T) {
	// Each template's flags, parameter regexes and spec.
	type template struct {
		flags   map[string]string
		regexes map[string][]*regexp.Regexp
		spec    string
	}
	byPipeline := map[string]template{}
	for _, ft := range templates {
		tpl := template{flags: pipelineFlags(t, ft.dir()), regexes: map[string][]*regexp.Regexp{}, spec: templateSpec(t, ft)}
		for _, p := range loadMetadata(t, ft).Parameters {
			for _, r := range p.Regexes {
				tpl.regexes[p.Name] = append(tpl.regexes[p.Name], regexp.MustCompile(r))
			}
		}
		byPipeline[ft.pipeline] = tpl
	}
	// A query with the characters JSON and the shell quote, and spaces.
	query := "SELECT user, productSku, type, time FROM `my-project.events.interactions`  WHERE type != 'refund' AND note != \"a\\b\""
	for _, tc := range []struct {
		name     string
		exists   bool   // the Cloud Scheduler job exists: update, not create
		pipeline string // PIPELINE; "" leaves template.mk's default
		vars     []string
		job, sa  string
		worker   string
		schedule string
		tz       string
		params   map[string]string // the parameters the body must carry
	}{
		{
			name: "defaults, new job",
			vars: []string{"SCHEDULE_PARAMS=input=gs://my-bucket/interactions/*.csv~time_field=time~output=gs://my-bucket/similarity/neighbors.jsonl~weights=view:0.5,cart:2,purchase:6~popular_output=gs://my-bucket/similarity/popular.json~datastore_project=my-serving-project"},
			job:  "similarity-nightly", sa: "similarity-nightly@my-project.iam.gserviceaccount.com", worker: "similarity-nightly@my-project.iam.gserviceaccount.com",
			schedule: "0 2 * * *", tz: "Etc/UTC",
			params: map[string]string{"window": "720h", "input": "gs://my-bucket/interactions/*.csv", "time_field": "time", "output": "gs://my-bucket/similarity/neighbors.jsonl",
				"weights": "view:0.5,cart:2,purchase:6", "popular_output": "gs://my-bucket/similarity/popular.json", "datastore_project": "my-serving-project"},
		},
		{
			name:   "query, own accounts and time, existing job",
			exists: true,
			vars: []string{"SCHEDULE_PARAMS=input_query=" + query + "~time_field=time~output=gs://my-bucket/weekly/neighbors.jsonl~top_n=50",
				"SCHEDULE_JOB=similarity-weekly", "SCHEDULE_WINDOW=168h", "SCHEDULE=30 1 * * *", "SCHEDULE_TZ=Europe/Paris",
				"SCHEDULE_SA=caller@my-project.iam.gserviceaccount.com", "SCHEDULE_WORKER_SA=worker@my-project.iam.gserviceaccount.com"},
			job: "similarity-weekly", sa: "caller@my-project.iam.gserviceaccount.com", worker: "worker@my-project.iam.gserviceaccount.com",
			schedule: "30 1 * * *", tz: "Europe/Paris",
			params: map[string]string{"window": "168h", "input_query": query, "time_field": "time", "output": "gs://my-bucket/weekly/neighbors.jsonl", "top_n": "50"},
		},
		{
			name: "relative since and until instead of a window",
			vars: []string{"SCHEDULE_WINDOW=", "SCHEDULE_PARAMS=input=gs://my-bucket/in/*.csv~time_field=event_time~output=gs://my-bucket/out/n.jsonl~since=-720h~until=0h"},
			job:  "similarity-nightly", sa: "similarity-nightly@my-project.iam.gserviceaccount.com", worker: "similarity-nightly@my-project.iam.gserviceaccount.com",
			schedule: "0 2 * * *", tz: "Etc/UTC",
			params: map[string]string{"input": "gs://my-bucket/in/*.csv", "time_field": "event_time", "output": "gs://my-bucket/out/n.jsonl", "since": "-720h", "until": "0h"},
		},
		{
			name:     "the ALS template",
			pipeline: "als",
			vars:     []string{"SCHEDULE_PARAMS=input=gs://my-bucket/interactions/*.csv~time_field=time~output=gs://my-bucket/als/neighbors.jsonl~user_output=gs://my-bucket/als/users.jsonl~item_factors_output=gs://my-bucket/als/item_factors.jsonl~popular_output=gs://my-bucket/als/popular.json~rank=64~lambda=0.05~alpha=40~iterations=15"},
			job:      "als-nightly", sa: "als-nightly@my-project.iam.gserviceaccount.com", worker: "als-nightly@my-project.iam.gserviceaccount.com",
			schedule: "0 2 * * *", tz: "Etc/UTC",
			params: map[string]string{"window": "720h", "input": "gs://my-bucket/interactions/*.csv", "time_field": "time", "output": "gs://my-bucket/als/neighbors.jsonl",
				"user_output": "gs://my-bucket/als/users.jsonl", "item_factors_output": "gs://my-bucket/als/item_factors.jsonl", "popular_output": "gs://my-bucket/als/popular.json",
				"rank": "64", "lambda": "0.05", "alpha": "40", "iterations": "15"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := 1
			if tc.exists {
				status = 0
			}
			vars := append(slices.Clone(scheduleGCP), tc.vars...)
			pipeline := templates[0].pipeline
			if tc.pipeline != "" {
				pipeline = tc.pipeline
				vars = append(vars, "PIPELINE="+tc.pipeline)
			}
			tpl := byPipeline[pipeline]
			calls := runSchedule(t, status, "schedule-dataflow", vars...)
			verb, headers := "create", "headers"
			if tc.exists {
				verb, headers = "update", "update-headers"
			}
			if len(calls) != 2 {
				t.Fatalf("gcloud calls %q: want describe, then %s", calls, verb)
			}
			describe, c := parseCall(t, calls[0]), parseCall(t, calls[1])
			if want := []string{"scheduler", "jobs", "describe", tc.job}; !slices.Equal(describe.words, want) {
				t.Errorf("first call %q, want %q", calls[0], want)
			}
			if want := []string{"scheduler", "jobs", verb, "http", tc.job}; !slices.Equal(c.words, want) {
				t.Fatalf("second call %q, want %q", calls[1], want)
			}
			want := map[string]string{
				"project":                     "my-project",
				"location":                    "europe-west1",
				"schedule":                    tc.schedule,
				"time-zone":                   tc.tz,
				"uri":                         "https://dataflow.googleapis.com/v1b3/projects/my-project/locations/europe-west1/flexTemplates:launch",
				"http-method":                 "POST",
				"oauth-service-account-email": tc.sa,
				"oauth-token-scope":           "https://www.googleapis.com/auth/cloud-platform",
				headers:                       "Content-Type=application/json",
			}
			for name, v := range want {
				if got, ok := c.flags[name]; !ok || got != v {
					t.Errorf("--%s=%q, want %q", name, got, v)
				}
			}
			for name, v := range describe.flags {
				if c.flags[name] != v {
					t.Errorf("describe --%s=%s but %s --%s=%s", name, v, verb, name, c.flags[name])
				}
			}
			if !cronSchedule.MatchString(c.flags["schedule"]) {
				t.Errorf("--schedule=%q is not a five-field cron schedule", c.flags["schedule"])
			}
			if _, err := time.LoadLocation(c.flags["time-zone"]); err != nil {
				t.Errorf("--time-zone: %v", err)
			}

			var req launchRequest
			dec := json.NewDecoder(strings.NewReader(c.flags["message-body"]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				t.Fatalf("--message-body is not the launch request: %v\n%s", err, c.flags["message-body"])
			}
			lp := req.LaunchParameter
			if lp.JobName != tc.job || !dataflowJobName.MatchString(lp.JobName) || len(lp.JobName) > 1024 {
				t.Errorf("jobName %q, want %q (a valid Dataflow job name)", lp.JobName, tc.job)
			}
			if lp.ContainerSpecGcsPath != tpl.spec {
				t.Errorf("containerSpecGcsPath %q, want template-build's %q", lp.ContainerSpecGcsPath, tpl.spec)
			}
			env := lp.Environment
			if env.TempLocation != "gs://my-bucket/temp" || env.StagingLocation != "gs://my-bucket/staging" || env.ServiceAccountEmail != tc.worker {
				t.Errorf("environment %+v, want temp and staging in gs://my-bucket as template-run's, service account %s", env, tc.worker)
			}
			if !maps.Equal(lp.Parameters, tc.params) {
				t.Errorf("parameters %q, want %q", lp.Parameters, tc.params)
			}
			for name, v := range lp.Parameters {
				if _, ok := tpl.flags[name]; !ok {
					t.Errorf("parameter %s is not a flag of pipelines/%s", name, pipeline)
				}
				res, ok := tpl.regexes[name]
				if !ok {
					t.Errorf("parameter %s is not in the %s template's metadata: Dataflow would refuse the launch", name, pipeline)
				} else if !slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(v) }) {
					t.Errorf("parameter %s=%q: the %s template's regexes reject it: Dataflow would refuse the launch", name, v, pipeline)
				}
			}
		})
	}
}

// binding is one role grant: on what, to whom.
type binding struct{ resource, member, role string }

// TestScheduleServiceAccount checks the accounts schedule-service-account
// creates and the roles it grants, against the list in README.md.
func TestScheduleServiceAccount(t *testing.T) {
	const (
		sa     = "similarity-nightly@my-project.iam.gserviceaccount.com"
		worker = "similarity-worker@my-project.iam.gserviceaccount.com"
	)
	base := func(caller, worker string) []binding {
		return []binding{
			{"project my-project", caller, "roles/dataflow.developer"},
			{"service account " + worker, caller, "roles/iam.serviceAccountUser"},
			{"project my-project", worker, "roles/dataflow.worker"},
			{"bucket gs://my-bucket", worker, "roles/storage.objectAdmin"},
			{"repository europe-west1/dataflow", worker, "roles/artifactregistry.reader"},
		}
	}
	for _, tc := range []struct {
		name     string
		exists   bool
		vars     []string
		looked   []string // accounts of the project looked up
		created  []string // accounts created
		bindings []binding
	}{
		{
			name:     "one new account, files",
			vars:     []string{"SCHEDULE_PARAMS=input=gs://my-bucket/in/*.csv~time_field=time~output=gs://my-bucket/out/n.jsonl"},
			looked:   []string{sa},
			created:  []string{"similarity-nightly"},
			bindings: base(sa, sa),
		},
		{
			name:   "existing caller and worker, BigQuery and Datastore",
			exists: true,
			vars: []string{"SCHEDULE_WORKER_SA=" + worker,
				"SCHEDULE_PARAMS=input=bq://my-project.events.interactions~time_field=time~output=gs://my-bucket/out/n.jsonl~datastore_project=my-serving-project~bq_project=my-billing-project"},
			looked: []string{sa, worker},
			bindings: append(base(sa, worker),
				binding{"project my-serving-project", worker, "roles/datastore.user"},
				binding{"project my-billing-project", worker, "roles/bigquery.readSessionUser"},
				binding{"project my-billing-project", worker, "roles/bigquery.jobUser"},
				binding{"project my-billing-project", worker, "roles/bigquery.dataViewer"}),
		},
		{
			name: "the Compute Engine account as worker, a query",
			vars: []string{"SCHEDULE_WORKER_SA=123-compute@developer.gserviceaccount.com",
				"SCHEDULE_PARAMS=input_query=SELECT 1~time_field=time~output=gs://my-bucket/out/n.jsonl"},
			looked:  []string{sa},
			created: []string{"similarity-nightly"},
			bindings: append(base(sa, "123-compute@developer.gserviceaccount.com"),
				binding{"project my-project", "123-compute@developer.gserviceaccount.com", "roles/bigquery.readSessionUser"},
				binding{"project my-project", "123-compute@developer.gserviceaccount.com", "roles/bigquery.jobUser"},
				binding{"project my-project", "123-compute@developer.gserviceaccount.com", "roles/bigquery.dataViewer"}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := 1
			if tc.exists {
				status = 0
			}
			calls := runSchedule(t, status, "schedule-service-account", append(slices.Clone(scheduleGCP), tc.vars...)...)
			var created, described []string
			var got []binding
			for _, args := range calls {
				c := parseCall(t, args)
				command, target := strings.Join(c.words[:len(c.words)-1], " "), c.words[len(c.words)-1]
				// Accounts and repositories are looked up in a project;
				// projects and buckets are named.
				if strings.HasPrefix(command, "iam ") || strings.HasPrefix(command, "artifacts ") {
					if c.flags["project"] != "my-project" {
						t.Errorf("gcloud %q: --project=%q, want my-project", args, c.flags["project"])
					}
				}
				member, _ := strings.CutPrefix(c.flags["member"], "serviceAccount:")
				switch command {
				case "iam service-accounts describe":
					described = append(described, target)
				case "iam service-accounts create":
					created = append(created, target)
				case "projects add-iam-policy-binding":
					if c.flags["condition"] != "None" {
						t.Errorf("gcloud %q: without --condition=None gcloud asks for a condition when the policy has some", args)
					}
					got = append(got, binding{"project " + target, member, c.flags["role"]})
				case "iam service-accounts add-iam-policy-binding":
					got = append(got, binding{"service account " + target, member, c.flags["role"]})
				case "storage buckets add-iam-policy-binding":
					got = append(got, binding{"bucket " + target, member, c.flags["role"]})
				case "artifacts repositories add-iam-policy-binding":
					got = append(got, binding{"repository " + c.flags["location"] + "/" + target, member, c.flags["role"]})
				default:
					t.Errorf("unexpected gcloud call %q", args)
				}
				if strings.HasSuffix(command, "add-iam-policy-binding") && !strings.HasPrefix(c.flags["member"], "serviceAccount:") {
					t.Errorf("gcloud %q: the member is not a service account", args)
				}
			}
			if !slices.Equal(created, tc.created) {
				t.Errorf("created %q, want %q", created, tc.created)
			}
			if !slices.Equal(described, tc.looked) {
				t.Errorf("looked up %q, want %q", described, tc.looked)
			}
			less := func(a, b binding) int { return strings.Compare(a.resource+a.member+a.role, b.resource+b.member+b.role) }
			slices.SortFunc(got, less)
			slices.SortFunc(tc.bindings, less)
			if !slices.Equal(got, tc.bindings) {
				t.Errorf("grants:\n%q\nwant:\n%q", got, tc.bindings)
			}
		})
	}
}

// TestScheduleControls checks the targets that run, pause, resume and
// delete the job.
func TestScheduleControls(t *testing.T) {
	for _, verb := range []string{"run", "pause", "resume", "delete"} {
		calls := runSchedule(t, 0, "schedule-"+verb, "PROJECT=my-project", "REGION=europe-west1")
		want := [][]string{{"scheduler", "jobs", verb, "similarity-nightly", "--project=my-project", "--location=europe-west1"}}
		if !slices.EqualFunc(calls, want, slices.Equal) {
			t.Errorf("make schedule-%s: gcloud calls %q, want %q", verb, calls, want)
		}
	}
	calls := runSchedule(t, 0, "schedule-pause", "PROJECT=my-project", "SCHEDULE_LOCATION=us-central1", "SCHEDULE_JOB=other")
	if want := []string{"scheduler", "jobs", "pause", "other", "--project=my-project", "--location=us-central1"}; len(calls) != 1 || !slices.Equal(calls[0], want) {
		t.Errorf("gcloud calls %q, want %q", calls, want)
	}
}

// TestScheduleDryRun dry-runs each target (make -n), of schedule.mk alone
// and through the main Makefile, which includes it after template.mk: the
// commands name existing files, and a missing or wrong variable stops make
// early with a message naming it.
func TestScheduleDryRun(t *testing.T) {
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	params := "SCHEDULE_PARAMS=input=gs://b/in.csv~time_field=time~output=gs://b/out.jsonl"
	for _, tc := range []struct {
		target string
		vars   []string
		want   string // substring of the output; an error starts with "error: "
	}{
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params), "gcloud scheduler jobs create http similarity-nightly"},
		{"schedule-service-account", append(slices.Clone(scheduleGCP), params), "--role=roles/dataflow.worker"},
		{"schedule-pause", scheduleGCP[:2], "gcloud scheduler jobs pause similarity-nightly"},
		{"schedule-dataflow", scheduleGCP[1:], "error: PROJECT is required"},
		{"schedule-dataflow", []string{"PROJECT=p", "BUCKET=b", params}, "error: REGION is required"},
		{"schedule-dataflow", scheduleGCP[:2], "error: BUCKET is required"},
		{"schedule-dataflow", scheduleGCP, "error: SCHEDULE_PARAMS is required"},
		{"schedule-service-account", scheduleGCP, "error: SCHEDULE_PARAMS is required"},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), "SCHEDULE_PARAMS=input=gs://b/in.csv"), "error: SCHEDULE_PARAMS needs output="},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params+"~window=24h"), "error: SCHEDULE_PARAMS names a parameter twice, or window"},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params+"~top_n=5~top_n=6"), "error: SCHEDULE_PARAMS names a parameter twice"},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params+"~since=-24h"), "error: SCHEDULE_PARAMS sets since and SCHEDULE_WINDOW=720h"},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), "SCHEDULE_PARAMS=input=gs://b/in.csv~output=gs://b/out.jsonl"), "error: SCHEDULE_PARAMS needs time_field="},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), "SCHEDULE_WINDOW=", "SCHEDULE_PARAMS=input=gs://b/in.csv~output=gs://b/out.jsonl~until=0h"), "error: SCHEDULE_PARAMS needs time_field="},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), "SCHEDULE_WINDOW=", "SCHEDULE_PARAMS=input=gs://b/in.csv~output=gs://b/out.jsonl"), `"parameters":{"input":"gs://b/in.csv","output":"gs://b/out.jsonl"}`},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params+"~top_n"), "error: SCHEDULE_PARAMS: every parameter is name=value"},
		{"schedule-dataflow", append(slices.Clone(scheduleGCP), params+"~=5"), "error: SCHEDULE_PARAMS: a parameter has no name"},
		{"schedule-resume", []string{"REGION=r"}, "error: PROJECT is required"},
		{"schedule-delete", []string{"PROJECT=p"}, "error: SCHEDULE_LOCATION is required"},
	} {
		for _, files := range [][]string{{"templates/dataflow/schedule.mk"}, {"Makefile"}} {
			args := []string{"--no-print-directory", "-n"}
			for _, f := range files {
				args = append(args, "-f", f)
			}
			t.Run(tc.target+" "+strings.Join(tc.vars, " ")+" -f "+strings.Join(files, " -f "), func(t *testing.T) {
				cmd := exec.Command(makeTool, append(append(args, tc.target), tc.vars...)...)
				cmd.Dir = "../.."
				out, err := cmd.CombinedOutput()
				want, wantErr := strings.CutPrefix(tc.want, "error: ")
				if (err != nil) != wantErr || !strings.Contains(string(out), want) {
					t.Errorf("make -n %s: error %v, output:\n%s\nwant it to contain %q", tc.target, err, out, want)
				}
				if wantErr && bytes.Contains(out, []byte("gcloud")) {
					t.Errorf("make -n %s printed commands before stopping:\n%s", tc.target, out)
				}
				for _, path := range regexp.MustCompile(`templates/dataflow/[\w./-]+`).FindAllString(string(out), -1) {
					if _, err := os.Stat(filepath.Join("../..", path)); err != nil {
						t.Errorf("make -n %s names %s: %v", tc.target, path, err)
					}
				}
			})
		}
	}
}
