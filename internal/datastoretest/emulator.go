package datastoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EmulatorRequiredEnv names the environment variable that, when "1", turns a
// missing emulator into a test failure instead of a skip: CI sets it once it
// has checked that the emulator is installed, so the tests cannot silently
// stop running against it.
const EmulatorRequiredEnv = "DATASTORE_EMULATOR_REQUIRED"

// Emulator timings: Java starts in about 2 s on an idle machine, more on a
// loaded one.
const (
	emulatorStartTimeout = 2 * time.Minute
	emulatorStopTimeout  = 30 * time.Second
)

// Emulator is a Google Cloud Datastore emulator (the Google Cloud CLI's
// cloud-datastore-emulator component) run by a test: in memory, on a free
// loopback port, with every job applied at once (--consistency=1.0), so
// results do not depend on timing.
type Emulator struct {
	// Host is the emulator's host:port, for DATASTORE_EMULATOR_HOST or an
	// endpoint option.
	Host string

	cmd    *exec.Cmd
	dir    string        // the emulator's working directory
	exited chan struct{} // closed when cmd has been waited for
	log    *lockedBuffer
}

// StartEmulator starts an emulator and stops it when t and its subtests end.
// Startup takes seconds: start one per package run and share it (Reset
// between tests). It skips t when gcloud, the emulator component or java is
// missing, unless DATASTORE_EMULATOR_REQUIRED=1, and fails t when the
// emulator does not come up, with the emulator's log.
func StartEmulator(t testing.TB) *Emulator {
	t.Helper()
	launcher, err := EmulatorLauncher()
	if err != nil {
		if os.Getenv(EmulatorRequiredEnv) == "1" {
			t.Fatalf("%v (%s=1)", err, EmulatorRequiredEnv)
		}
		t.Skipf("%v: skipping the tests against the real Datastore emulator", err)
	}
	e, err := launchEmulator(launcher)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// EmulatorLauncher returns the path of the emulator's own launcher script in
// the Google Cloud SDK: the SDK is the one holding gcloud's real path, else
// the one `gcloud info` names (seconds), else one of the usual install
// paths. It fails when the launcher, its jar or java is missing.
func EmulatorLauncher() (string, error) {
	gcloud, _ := exec.LookPath("gcloud")
	// Candidate SDK roots, cheapest first; each is computed only if needed.
	roots := []func() string{
		func() string {
			if gcloud == "" {
				return ""
			}
			real, err := filepath.EvalSymlinks(gcloud)
			if err != nil {
				return ""
			}
			return filepath.Dir(filepath.Dir(real)) // SDK/bin/gcloud
		},
		func() string {
			if gcloud == "" {
				return ""
			}
			out, err := exec.Command(gcloud, "info", "--format=value(installation.sdk_root)").Output()
			if err != nil {
				return ""
			}
			return strings.TrimSpace(string(out))
		},
		func() string { return "/usr/lib/google-cloud-sdk" },
		func() string { return "/usr/share/google-cloud-sdk" },
		func() string {
			home, err := os.UserHomeDir()
			if err != nil {
				return ""
			}
			return filepath.Join(home, "google-cloud-sdk")
		},
	}
	launcher := ""
	var tried []string
	for _, root := range roots {
		r := root()
		if r == "" {
			continue
		}
		dir := filepath.Join(r, "platform", "cloud-datastore-emulator")
		if _, err := os.Stat(filepath.Join(dir, "CloudDatastore.jar")); err == nil {
			launcher = filepath.Join(dir, "cloud_datastore_emulator")
			break
		}
		tried = append(tried, r)
	}
	if launcher == "" {
		return "", fmt.Errorf("datastoretest: no Cloud Datastore emulator (gcloud component cloud-datastore-emulator, Debian package google-cloud-cli-datastore-emulator) in %s", strings.Join(tried, ", "))
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("datastoretest: the Cloud Datastore emulator needs java (Java 11 or later) on PATH")
	}
	return launcher, nil
}

// launchEmulator runs launcher on a free port and waits until it answers.
func launchEmulator(launcher string) (*Emulator, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// The emulator writes index files under its working directory even
	// when told to keep everything in memory: give it a scratch one.
	dir, err := os.MkdirTemp("", "datastore-emulator-")
	if err != nil {
		return nil, err
	}
	e := &Emulator{Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, exited: make(chan struct{}), log: &lockedBuffer{}}
	e.cmd = exec.Command(launcher, "start", "--host=127.0.0.1", "--port="+strconv.Itoa(port),
		"--store_on_disk=false", "--store_index_configuration_on_disk=false", "--consistency=1.0")
	e.cmd.Dir = dir
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	// The launcher is a shell script whose java child outlives a killed
	// script; its own process group lets Stop kill both as a last resort.
	setProcessGroup(e.cmd)
	if err := e.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("datastoretest: starting %s: %w", launcher, err)
	}
	go func() { _ = e.cmd.Wait(); close(e.exited) }()
	if err := e.waitReady(); err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("datastoretest: emulator on %s: %w\nemulator log:\n%s", e.Host, err, e.log.String())
	}
	return e, nil
}

// waitReady polls the health endpoint until it answers "Ok".
func (e *Emulator) waitReady() error {
	deadline := time.Now().Add(emulatorStartTimeout)
	for {
		body, err := e.call(http.MethodGet, "/")
		if err == nil && body == "Ok" {
			return nil
		}
		select {
		case <-e.exited:
			return fmt.Errorf("exited before answering: %v", e.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last answer %q, %v)", emulatorStartTimeout, body, err)
		}
	}
}

// call sends a body-less request to the emulator's HTTP admin API.
func (e *Emulator) call(method, path string) (string, error) {
	req, err := http.NewRequest(method, "http://"+e.Host+path, nil)
	if err != nil {
		return "", err
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return strings.TrimSpace(string(body)), err
}

// Reset deletes every entity, so tests sharing an emulator start empty.
func (e *Emulator) Reset(t testing.TB) {
	t.Helper()
	if _, err := e.call(http.MethodPost, "/reset"); err != nil {
		t.Fatalf("datastoretest: resetting the emulator: %v", err)
	}
}

// Log returns what the emulator printed so far.
func (e *Emulator) Log() string { return e.log.String() }

// Stop asks the emulator to shut down and waits for its processes to exit,
// killing its process group if they do not. Stopping the launcher alone
// would leave java running.
func (e *Emulator) Stop() error {
	defer os.RemoveAll(e.dir)
	_, postErr := e.call(http.MethodPost, "/shutdown")
	select {
	case <-e.exited:
		return nil
	case <-time.After(emulatorStopTimeout):
	}
	killProcessGroup(e.cmd)
	<-e.exited
	return fmt.Errorf("datastoretest: emulator on %s did not exit within %v of /shutdown (%v); killed its process group", e.Host, emulatorStopTimeout, postErr)
}

// Snapshot returns every entity stored for project, in every namespace, read
// through the Datastore API with kindless queries, keyed as Server.Snapshot
// keys them (default database only).
func (e *Emulator) Snapshot(ctx context.Context, project string) (map[Key]*pb.Entity, error) {
	conn, err := grpc.NewClient("passthrough:///"+e.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	api := pb.NewDatastoreClient(conn)
	namespaces, err := runQuery(ctx, api, project, "", &pb.Query{Kind: []*pb.KindExpression{{Name: "__namespace__"}}})
	if err != nil {
		return nil, fmt.Errorf("datastoretest: listing namespaces: %w", err)
	}
	out := map[Key]*pb.Entity{}
	for _, n := range namespaces {
		path := n.GetKey().GetPath()
		ns := path[len(path)-1].GetName() // the default namespace has id 1 and no name
		ents, err := runQuery(ctx, api, project, ns, &pb.Query{})
		if err != nil {
			return nil, fmt.Errorf("datastoretest: listing namespace %q: %w", ns, err)
		}
		for _, ent := range ents {
			if !strings.HasPrefix(ent.GetKey().GetPath()[0].GetKind(), "__") {
				out[storeKey("", ent.GetKey())] = ent
			}
		}
	}
	return out, nil
}

// runQuery runs q in namespace ns to the end, following cursors.
func runQuery(ctx context.Context, api pb.DatastoreClient, project, ns string, q *pb.Query) ([]*pb.Entity, error) {
	var out []*pb.Entity
	for {
		resp, err := api.RunQuery(ctx, &pb.RunQueryRequest{
			ProjectId:   project,
			PartitionId: &pb.PartitionId{ProjectId: project, NamespaceId: ns},
			QueryType:   &pb.RunQueryRequest_Query{Query: q},
		})
		if err != nil {
			return nil, err
		}
		b := resp.GetBatch()
		for _, r := range b.GetEntityResults() {
			out = append(out, r.GetEntity())
		}
		if b.GetMoreResults() != pb.QueryResultBatch_NOT_FINISHED {
			return out, nil
		}
		q.StartCursor = b.GetEndCursor()
	}
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before the emulator binds it; the emulator then fails to start
// and says so in its log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer is an io.Writer safe for the two output pipes of a process.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
