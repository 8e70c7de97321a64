package datastoretest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"github.com/recsys/itemsim/internal/emulator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// EmulatorRequiredEnv names the environment variable that, when "1", turns a
// missing emulator into a test failure instead of a skip (see
// emulator.Spec.RequiredEnv).
const EmulatorRequiredEnv = "DATASTORE_EMULATOR_REQUIRED"

// spec runs the Google Cloud CLI's cloud-datastore-emulator component: in
// memory, with every job applied at once (--consistency=1.0), so results
// do not depend on timing; stopped with POST /shutdown, since killing its
// launcher script would leave java running.
var spec = emulator.Spec{
	Name:      "Cloud Datastore",
	Component: "cloud-datastore-emulator",
	Jar:       "CloudDatastore.jar",
	Launcher:  "cloud_datastore_emulator",
	Package:   "google-cloud-cli-datastore-emulator",
	Args: func(host string, port int) []string {
		return []string{"start", "--host=" + host, "--port=" + strconv.Itoa(port),
			"--store_on_disk=false", "--store_index_configuration_on_disk=false", "--consistency=1.0"}
	},
	Shutdown: func(p *emulator.Process) error {
		_, err := p.Call(http.MethodPost, "/shutdown")
		return err
	},
	RequiredEnv: EmulatorRequiredEnv,
}

// Emulator is a Google Cloud Datastore emulator run by a test.
type Emulator struct {
	*emulator.Process
}

// StartEmulator starts an emulator and stops it when t and its subtests end
// (emulator.Start). Start one per package run and share it (Reset between
// tests).
func StartEmulator(t testing.TB) *Emulator {
	t.Helper()
	return &Emulator{emulator.Start(t, spec)}
}

// LaunchEmulator starts an emulator outside a test (a benchmark); the
// caller stops it (Stop).
func LaunchEmulator() (*Emulator, error) {
	p, err := emulator.Launch(spec)
	if err != nil {
		return nil, err
	}
	return &Emulator{p}, nil
}

// Reset deletes every entity, so tests sharing an emulator start empty.
func (e *Emulator) Reset(t testing.TB) {
	t.Helper()
	if _, err := e.Call(http.MethodPost, "/reset"); err != nil {
		t.Fatalf("datastoretest: resetting the emulator: %v", err)
	}
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
