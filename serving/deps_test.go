package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoBeam keeps the server, and the Beam-free packages it is built
// on, free of Beam: the shared rules live in model, so the serving binary
// needs none of the SDK.
func TestLinksNoBeam(t *testing.T) {
	pkgs := []string{"github.com/recsys/itemsim/serving", "github.com/recsys/itemsim/recommend",
		"github.com/recsys/itemsim/model", "github.com/recsys/itemsim/publish", "github.com/recsys/itemsim/simstore"}
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list -deps listed %d packages, fewer than the %d asked for", len(deps), len(pkgs))
	}
	for _, d := range deps {
		if strings.Contains(d, "github.com/apache/beam") {
			t.Errorf("%s is linked into the server", d)
		}
	}
}
