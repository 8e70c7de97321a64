package options

import (
	"flag"
	"fmt"

	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

// datastoreTarget are the flags naming where a Datastore sink writes.
type datastoreTarget struct {
	project, database, namespace, kind *string
}

// registerTarget registers --datastore_project, --datastore_database and
// --datastore_namespace on fs; the caller registers --datastore_kind.
func registerTarget(fs *flag.FlagSet) datastoreTarget {
	return datastoreTarget{
		project:   fs.String("datastore_project", "", "Google Cloud project to write neighbour lists to Datastore in; empty disables the Datastore sink."),
		database:  fs.String("datastore_database", "", "Datastore named database; empty is the default database."),
		namespace: fs.String("datastore_namespace", "", "Datastore namespace; empty is the default namespace."),
	}
}

// Enabled reports whether --datastore_project is set.
func (d datastoreTarget) Enabled() bool { return *d.project != "" }

// Datastore are the flags of the batch jobs' Datastore sink (see
// docs/datastore.md).
type Datastore struct {
	datastoreTarget
	layout       *string
	keepVersions *int
	rampUp       *bool
}

// RegisterDatastore registers --datastore_project, --datastore_database,
// --datastore_namespace, --datastore_kind, --datastore_layout,
// --datastore_keep_versions and --datastore_ramp_up on fs.
func RegisterDatastore(fs *flag.FlagSet) *Datastore {
	d := &Datastore{
		datastoreTarget: registerTarget(fs),
		layout:          fs.String("datastore_layout", simstore.LayoutVersioned, "Datastore layout: versioned (new version per run, pointer flipped when complete) or inplace (plain <kind>/<item> keys)."),
		keepVersions:    fs.Int("datastore_keep_versions", 2, "Complete versions kept in the versioned layout, the new one included."),
		rampUp:          fs.Bool("datastore_ramp_up", false, "Ramp Datastore writes up from 500 entities/s shared by all workers, 1.5x every 5 minutes, for fresh databases."),
	}
	d.kind = fs.String("datastore_kind", simstore.DefaultKind, "Datastore kind of item entities; the version pointer and markers use <kind>Version.")
	return d
}

// LiveKind is the streaming job's default Datastore kind: its lists live
// apart from the batch jobs'.
const LiveKind = simstore.DefaultKind + "Live"

// LiveDatastore are the flags of the streaming job's Datastore sink, the
// live layout (simstore.LayoutLive).
type LiveDatastore struct {
	datastoreTarget
	tolerance *float64
}

// RegisterLiveDatastore registers --datastore_project,
// --datastore_database, --datastore_namespace, --datastore_kind and
// --datastore_live_tolerance on fs.
func RegisterLiveDatastore(fs *flag.FlagSet) *LiveDatastore {
	d := &LiveDatastore{datastoreTarget: registerTarget(fs)}
	d.tolerance = fs.Float64("datastore_live_tolerance", 0, "Write an item's list to Datastore only when its items or their order changed, or a score moved by more than this fraction of itself since the stored list (e.g. 0.02); 0 writes every change. The JSONL output is exact either way.")
	d.kind = fs.String("datastore_kind", LiveKind, "Datastore kind of the live item lists, <kind>/<item> updated in place (the live layout).")
	return d
}

// Config is the sink's configuration, checked; topN is the lists' length.
func (d *LiveDatastore) Config(topN int) (datastoreio.Config, error) {
	c := datastoreio.Config{Project: *d.project, Database: *d.database, Namespace: *d.namespace, Kind: *d.kind,
		Layout: simstore.LayoutLive, LiveTolerance: *d.tolerance}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, datastoreio.CheckTopN(topN)
}

// Config is the sink's configuration for the run's version.
func (d *Datastore) Config(version string) datastoreio.Config {
	return datastoreio.Config{
		Project:      *d.project,
		Database:     *d.database,
		Namespace:    *d.namespace,
		Kind:         *d.kind,
		Layout:       *d.layout,
		Version:      version,
		KeepVersions: *d.keepVersions,
		RampUp:       *d.rampUp,
		Workers:      datastoreWorkers(),
	}
}

// datastoreWorkers is the number of workers sharing the ramp-up budget: the
// Dataflow runner's --max_num_workers, else --num_workers, when registered
// and set, else 1.
func datastoreWorkers() int {
	for _, name := range []string{"max_num_workers", "num_workers"} {
		if f := flag.Lookup(name); f != nil {
			var n int
			if _, err := fmt.Sscan(f.Value.String(), &n); err == nil && n > 0 {
				return n
			}
		}
	}
	return 1
}

// Validate checks the flags, and the lengths of the lists the job stores
// (topN neighbours, popularN popular items) against entity limits, when the
// sink is enabled.
func (d *Datastore) Validate(topN, popularN int) error {
	if !d.Enabled() {
		return nil
	}
	if *d.layout == simstore.LayoutLive {
		return fmt.Errorf("--datastore_layout=%s is the streaming job's (pipelines/realtime): use %s or %s", simstore.LayoutLive, simstore.LayoutVersioned, simstore.LayoutInPlace)
	}
	if *d.keepVersions < 1 {
		return fmt.Errorf("--datastore_keep_versions is %d, want at least 1", *d.keepVersions)
	}
	// The version is only known at construction; any valid one checks the rest.
	if err := d.Config("validate").Validate(); err != nil {
		return err
	}
	if err := datastoreio.CheckTopN(topN); err != nil {
		return err
	}
	return datastoreio.CheckPopularN(popularN)
}
