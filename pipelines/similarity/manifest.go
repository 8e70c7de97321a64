package main

import "github.com/recsys/itemsim/model"

// published is the similarity measure a run records with its model, in the
// manifest and on the Datastore version's marker, where it bounds the
// scores the server accepts.
func published(s model.Similarity) *model.Similarity {
	s = s.OrDefault()
	return &s
}
