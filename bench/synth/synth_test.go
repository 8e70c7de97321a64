package synth

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsersMode checks the fixed-catalogue mode: exactly the asked number
// of users, and a log of 2U users starts with the log of U users.
func TestUsersMode(t *testing.T) {
	var small, large bytes.Buffer
	if err := Write(&small, Config{Users: 300, Items: 500, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&large, Config{Users: 600, Items: 500, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	users := func(b []byte) map[string]bool {
		set := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			u, _, _ := strings.Cut(line, ",")
			set[u] = true
		}
		return set
	}
	if n := len(users(small.Bytes())); n != 300 {
		t.Errorf("Users=300 wrote %d users", n)
	}
	if n := len(users(large.Bytes())); n != 600 {
		t.Errorf("Users=600 wrote %d users", n)
	}
	if !bytes.HasPrefix(large.Bytes(), small.Bytes()) {
		t.Error("the 600-user log does not start with the 300-user log")
	}
	if err := Write(&small, Config{Items: 500}); err == nil {
		t.Error("neither Interactions nor Users: no error")
	}
}
