package main

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/datastoreio"
)

func init() {
	register.Function3x0(afterGate)
}

// writeDatastore adds the Datastore write of the run's item neighbours,
// popular list, user lists and item factors (with the settings, which a
// server folds new users in with), all in one version that the pointer's
// switch publishes once every entity is written. The neighbours wait for
// the bad-row check (gate): a failed check fails the run before the
// version can be published.
func writeDatastore(s beam.Scope, c config, gate, neighbors beam.PCollection, p datastoreio.Products) {
	cfg := store.Config(c.RunID)
	cosine, settings := model.DefaultSimilarity(), c.ALS.Config
	cfg.Similarity, cfg.ALS, cfg.Window = &cosine, &settings, c.Window
	gated := beam.ParDo(s, afterGate, neighbors, beam.SideInput{Input: gate})
	datastoreio.WriteVersion(s, cfg, gated, p)
}

// afterGate passes neighbours on once the gate (a side input) is complete.
func afterGate(n model.Neighbors, _ []int, emit func(model.Neighbors)) { emit(n) }
