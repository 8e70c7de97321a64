package datastoretest

import (
	"context"
	"testing"

	"cloud.google.com/go/datastore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Client opens a Datastore client for project on the server at addr (the
// in-process Server's Addr or an Emulator's Host), without credentials,
// and closes it when the test ends.
func Client(t testing.TB, project, addr string) *datastore.Client {
	t.Helper()
	client, err := datastore.NewClient(context.Background(), project,
		option.WithEndpoint("passthrough:///"+addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// OnBoth runs test as two subtests, against a fresh in-process Server
// ("in-process") and against the real emulator ("emulator", skipped with
// a message where it is not installed; see StartEmulator).
func OnBoth(t *testing.T, test func(t *testing.T, addr string)) {
	t.Run("in-process", func(t *testing.T) {
		srv, err := NewServer()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		test(t, srv.Addr)
	})
	t.Run("emulator", func(t *testing.T) { test(t, StartEmulator(t).Host) })
}
