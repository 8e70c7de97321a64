package main

import (
	"flag"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/simstore"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

// Datastore sink flags; see docs/datastore.md.
var (
	datastoreProject      = flag.String("datastore_project", "", "Google Cloud project to write neighbour lists to Datastore in; empty disables the Datastore sink.")
	datastoreDatabase     = flag.String("datastore_database", "", "Datastore named database; empty is the default database.")
	datastoreNamespace    = flag.String("datastore_namespace", "", "Datastore namespace; empty is the default namespace.")
	datastoreKind         = flag.String("datastore_kind", simstore.DefaultKind, "Datastore kind of item entities; the version pointer and markers use <kind>Version.")
	datastoreLayout       = flag.String("datastore_layout", simstore.LayoutVersioned, "Datastore layout: versioned (new version per run, pointer flipped when complete) or inplace (plain <kind>/<item> keys).")
	datastoreKeepVersions = flag.Int("datastore_keep_versions", 2, "Complete versions kept in the versioned layout, the new one included.")
	datastoreRampUp       = flag.Bool("datastore_ramp_up", false, "Ramp Datastore writes up from 500 entities/s shared by all workers, 1.5x every 5 minutes, for fresh databases.")
)

// datastoreEnabled reports whether --datastore_project is set.
func datastoreEnabled() bool { return *datastoreProject != "" }

// datastoreConfig builds the sink configuration from the flags.
func datastoreConfig(version string) datastoreio.Config {
	return datastoreio.Config{
		Project:      *datastoreProject,
		Database:     *datastoreDatabase,
		Namespace:    *datastoreNamespace,
		Kind:         *datastoreKind,
		Layout:       *datastoreLayout,
		Version:      version,
		KeepVersions: *datastoreKeepVersions,
		RampUp:       *datastoreRampUp,
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

// validateDatastoreFlags checks the datastore flags (and topN and
// popularN against entity limits); called after flag.Parse/beam.Init.
func validateDatastoreFlags(topN, popularN int) error {
	if !datastoreEnabled() {
		return nil
	}
	if *datastoreKeepVersions < 1 {
		return fmt.Errorf("--datastore_keep_versions is %d, want at least 1", *datastoreKeepVersions)
	}
	// The version is only known at construction; any valid one checks the rest.
	if err := datastoreConfig("validate").Validate(); err != nil {
		return err
	}
	if err := datastoreio.CheckTopN(topN); err != nil {
		return err
	}
	return datastoreio.CheckPopularN(popularN)
}

// writeDatastore adds the Datastore write of the pipeline's neighbours
// (PCollection<model.Neighbors>) and popular list (PCollection<[]model.PopularItem>,
// stored in the version, so that flipping the pointer publishes both) to
// the pipeline; version is the run id, and sim the measure the scores were
// computed with, and window the span of events read, both recorded on the
// version's marker.
func writeDatastore(s beam.Scope, neighbors, popular beam.PCollection, version string, sim model.Similarity, window publish.Window) {
	cfg := datastoreConfig(version)
	cfg.Similarity = published(sim)
	cfg.Window = window
	datastoreio.WriteWithPopular(s, cfg, neighbors, popular)
}
