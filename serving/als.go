package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/recsys/itemsim/publish"
	"github.com/recsys/itemsim/recommend"
)

// foldIn answers a recommendations request with "model":"als": the
// user's factor solved from the request's items against the served
// model's item factors (recommend.Model.AppendFoldIn), every item ranked.
// A model without factors is a 409 saying to load an ALS run; the
// neighbour options (neighbors, normalize) are a 400.
func (s *server) foldIn(w http.ResponseWriter, req *recommendationsRequest) int {
	if req.Neighbors != nil || req.Normalize != nil {
		return writeError(w, 400, "neighbors and normalize apply to model itemknn, not als")
	}
	o, err := s.options(req)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	events, err := sc.appendEvents(req)
	if err != nil {
		return writeError(w, 400, err.Error())
	}
	m, code := s.loaded(w, events)
	if m == nil {
		return code
	}
	if m.Factors() == 0 {
		return writeError(w, 409, fmt.Sprintf("model als: the served model %q has no item factors; serve an ALS run's manifest (with item_factors and als) to fold users in", m.Version()))
	}
	res, err := m.AppendFoldIn(sc.result[:0], s.profiler, events, o)
	switch {
	case errors.Is(err, recommend.ErrSolve):
		return writeError(w, 500, err.Error())
	case err != nil:
		return writeError(w, 400, err.Error())
	}
	sc.result = res.Items
	sc.body = appendResult(sc.body[:0], res.Items, res.Popular, res.Fallback, m.Version())
	return writeJSON(w, sc.body)
}

// userRecommendations serves GET /v1/users/{user}/recommendations?n=10
// from the ALS job's precomputed list of the user, or, following the
// streaming job's live layout, from the user's recent items
// (recommend.Model.AppendRecent); a user without either gets the popular
// list ("fallback":true). A model without user lists nor recent items is
// a 409 saying what to serve.
func (s *server) userRecommendations(w http.ResponseWriter, r *http.Request) int {
	m, n, status := s.storedList(w, r)
	if m == nil {
		return status
	}
	if m.Users() == 0 && !m.HasRecent() {
		return writeError(w, 409, fmt.Sprintf("the served model %q has no user lists; serve an ALS run's manifest (with users), or follow the streaming job's live layout", m.Version()))
	}
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	var res recommend.Result
	if m.HasRecent() {
		res = m.AppendRecent(sc.result[:0], r.PathValue("user"), n)
	} else {
		res = m.AppendUser(sc.result[:0], r.PathValue("user"), n)
	}
	sc.result = res.Items
	sc.body = appendResult(sc.body[:0], res.Items, res.Popular, res.Fallback, m.Version())
	return writeJSON(w, sc.body)
}

// readALS reads the ALS parts the manifest at path (m) lists from files
// that match it: the user lists and the item factors with the settings
// they were trained with. The user factors are not read: the server
// answers known users from their lists and folds new ones in against the
// item factors.
func readALS(path string, m publish.Manifest) (recommend.ALS, error) {
	a := recommend.ALS{Config: m.ALS}
	var err error
	if f := m.Users; f != nil {
		if a.Users, err = readVerified(publish.Resolve(path, f.Path), *f, recommend.ReadUserLists); err != nil {
			return a, err
		}
	}
	if f := m.ItemFactors; f != nil {
		if a.ItemFactors, err = readVerified(publish.Resolve(path, f.Path), *f, recommend.ReadFactors); err != nil {
			return a, err
		}
	}
	return a, nil
}
