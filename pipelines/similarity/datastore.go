package main

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

// writeDatastore adds the Datastore write of the pipeline's neighbours
// (PCollection<model.Neighbors>) and popular list (PCollection<[]model.PopularItem>,
// stored in the version, so that flipping the pointer publishes both) to
// the pipeline; version is the run id, and sim the measure the scores were
// computed with, and window the span of events read, both recorded on the
// version's marker.
func writeDatastore(s beam.Scope, neighbors, popular beam.PCollection, version string, sim model.Similarity, window publish.Window) {
	cfg := store.Config(version)
	cfg.Similarity = published(sim)
	cfg.Window = window
	datastoreio.WriteWithPopular(s, cfg, neighbors, popular)
}
