package datastoreio

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/simstore"
)

func TestCheckTopN(t *testing.T) {
	max := maxTopN()
	if max < 600 || max > 700 {
		t.Errorf("maxTopN() = %d, want about 680 for 1,500-byte ids", max)
	}
	tests := []struct {
		topN int
		ok   bool
	}{{0, false}, {1, true}, {100, true}, {max, true}, {max + 1, false}, {5000, false}}
	for _, tt := range tests {
		if err := CheckTopN(tt.topN); (err == nil) != tt.ok {
			t.Errorf("CheckTopN(%d) = %v, want ok %v", tt.topN, err, tt.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{Project: "p"}, true},
		{"in place", Config{Project: "p", Layout: "inplace"}, true},
		{"no project", Config{}, false},
		{"bad layout", Config{Project: "p", Layout: "sideways"}, false},
		{"reserved version", Config{Project: "p", Version: "current"}, false},
		{"dunder version", Config{Project: "p", Version: "__v__"}, false},
		{"negative keep", Config{Project: "p", KeepVersions: -1}, false},
		{"reserved kind", Config{Project: "p", Kind: "__kind__"}, false},
		{"backoff cap below start", Config{Project: "p", Retry: Retry{InitialBackoff: time.Minute, MaxBackoff: time.Second}}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestUpsertOpRejects(t *testing.T) {
	keys := simstore.Keys{Kind: simstore.DefaultKind}
	tests := []struct {
		name string
		n    model.Neighbors
		want string
	}{
		{"empty id", model.Neighbors{Item: ""}, "cannot be a key name"},
		{"id too long", model.Neighbors{Item: strings.Repeat("x", 1501)}, "cannot be a key name"},
		{"largest entity", hugeNeighbors("big"), ""},
		{"over 1 MiB", model.Neighbors{Item: "too-big", Neighbors: append(hugeNeighbors("x").Neighbors, hugeNeighbors("y").Neighbors[:100]...)}, `item "too-big": entity of 750 neighbours`},
	}
	for _, tt := range tests {
		_, err := upsertOp(keys, "v1", tt.n, time.Now())
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: upsertOp error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestEntityBytesBoundsEncoding commits entities one by one and checks the
// estimate bounds the request size the server measures.
func TestEntityBytesBoundsEncoding(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	cfg := testConfig(fake(srv), "v1")
	cfg.Namespace = "ns"
	cfg = cfg.withDefaults()
	client, err := newClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	w := newWriter(client, realClock{}, cfg.Retry, cycle(), &countMetrics{})
	cases := []model.Neighbors{
		{Item: "a"},
		neighbors([]string{"a", "b", "c"}, 2, 0)[0],
		neighbors(itemIDs("long-id-"+strings.Repeat("z", 200), 0, 300), 299, 0)[0],
		hugeNeighbors(strings.Repeat("h", maxKeyNameBytes)),
	}
	for _, n := range cases {
		o, err := upsertOp(cfg.keys(), "v1", n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.add(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := w.flush(ctx); err != nil {
			t.Fatal(err)
		}
		commits := srv.Commits()
		got := commits[len(commits)-1].Bytes
		if bound := o.bytes + requestOverhead; got > bound || got < o.bytes/2 {
			t.Errorf("item of %d neighbours: request %d bytes, estimate %d + %d overhead", len(n.Neighbors), got, o.bytes, requestOverhead)
		}
	}
	checkNoViolations(t, srv)
}
