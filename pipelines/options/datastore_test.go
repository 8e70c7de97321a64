package options

import (
	"flag"
	"strings"
	"testing"

	"github.com/recsys/itemsim/simstore"
)

// TestDatastoreFlags: the batch sink refuses the streaming job's live
// layout and fewer than one kept version, naming the flag, and checks
// nothing when disabled; the streaming sink writes the live layout of its
// own default kind and refuses lists too long for an entity.
func TestDatastoreFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string // "" for no error
	}{
		{[]string{"--datastore_project=p", "--datastore_layout=live"}, "--datastore_layout=live is the streaming job's"},
		{[]string{"--datastore_project=p", "--datastore_keep_versions=0"}, "--datastore_keep_versions"},
		{[]string{"--datastore_project=p", "--datastore_layout=inplace"}, ""},
		{[]string{"--datastore_layout=live"}, ""},
	} {
		fs := flag.NewFlagSet("batch", flag.ContinueOnError)
		d := RegisterDatastore(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		err := d.Validate(20, 20)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want an error naming %q (none if empty)", c.args, err, c.want)
		}
	}

	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	l := RegisterLiveDatastore(fs)
	if err := fs.Parse([]string{"--datastore_project=p", "--datastore_namespace=ns"}); err != nil {
		t.Fatal(err)
	}
	c, err := l.Config(20)
	if err != nil || c.Kind != LiveKind || c.Layout != simstore.LayoutLive || c.Project != "p" || c.Namespace != "ns" {
		t.Errorf("live sink config %+v, %v; want project p, namespace ns, kind %s, the live layout", c, err, LiveKind)
	}
	if _, err := l.Config(100_000); err == nil || !strings.Contains(err.Error(), "top_n") {
		t.Errorf("100,000 neighbours per entity: %v, want an error naming --top_n", err)
	}
}
