package textsink

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
	"github.com/recsys/itemsim/transforms/incremental"
	"github.com/recsys/itemsim/transforms/interactions"
)

func init() {
	register.Function1x1(neighborsLine)
	register.Function1x1(userListLine)
	register.Function1x1(factorRowLine)
	register.Function1x1(deadLetterLine)
	register.Function1x1(popularLine)
	register.Function1x1(rowLine)
	register.Function1x1(updateLine)
	register.Function1x1(hotLine)
	register.Function1x1(recentLine)
}

// WriteJSON writes values to path as JSON lines, as Write writes lines:
// a PCollection of the jobs' products, each element on one line
// (model.Neighbors, model.UserList, als.FactorRow, interactions.DeadLetter,
// model.Row, incremental.Update, incremental.HotList, incremental.Recent),
// or of []model.PopularItem, each list as the popular-list document the
// server reads, {"items":[...]}. encoding/json prints a float64 in its
// shortest form that reads back to the same value. (Typed functions, one
// per type, keep the step registered for --beam_strict.)
func WriteJSON(s beam.Scope, path string, values beam.PCollection, after ...beam.PCollection) beam.PCollection {
	return Write(s, path, JSONLines(s, values), after...)
}

// WriteJSONParts writes values as WriteJSON's lines, in parts as
// WriteParts does: the sink of an unbounded PCollection.
func WriteJSONParts(s beam.Scope, prefix string, values beam.PCollection) {
	WriteParts(s, prefix, JSONLines(s, values))
}

// JSONLines is values as JSON lines: a PCollection<string>, one line per
// element (a list of model.PopularItem as one document).
func JSONLines(s beam.Scope, values beam.PCollection) beam.PCollection {
	var fn any
	switch t := values.Type().Type(); t {
	case reflect.TypeOf(model.Neighbors{}):
		fn = neighborsLine
	case reflect.TypeOf(model.UserList{}):
		fn = userListLine
	case reflect.TypeOf(als.FactorRow{}):
		fn = factorRowLine
	case reflect.TypeOf(interactions.DeadLetter{}):
		fn = deadLetterLine
	case reflect.TypeOf(model.Row{}):
		fn = rowLine
	case reflect.TypeOf([]model.PopularItem{}):
		fn = popularLine
	case reflect.TypeOf(incremental.Update{}):
		fn = updateLine
	case reflect.TypeOf(incremental.HotList{}):
		fn = hotLine
	case reflect.TypeOf(incremental.Recent{}):
		fn = recentLine
	default:
		panic(fmt.Sprintf("textsink: no JSON line for a PCollection<%v>", t))
	}
	return beam.ParDo(s.Scope("textsink.JSON"), fn, values)
}

func neighborsLine(v model.Neighbors) string          { return line(v) }
func userListLine(v model.UserList) string            { return line(v) }
func factorRowLine(v als.FactorRow) string            { return line(v) }
func deadLetterLine(v interactions.DeadLetter) string { return line(v) }
func rowLine(v model.Row) string                      { return line(v) }
func updateLine(v incremental.Update) string {
	if v.Neighbors == nil {
		v.Neighbors = []model.Neighbor{} // an emptied list reads [], not null
	}
	return line(v)
}
func hotLine(v incremental.HotList) string {
	if v.Items == nil {
		v.Items = []model.PopularItem{} // an emptied list reads [], not null
	}
	return line(v)
}
func recentLine(v incremental.Recent) string {
	if v.Items == nil {
		v.Items = []incremental.RecentItem{} // a user who left reads [], not null
	}
	return line(v)
}
func popularLine(items []model.PopularItem) string {
	return line(struct {
		Items []model.PopularItem `json:"items"`
	}{items})
}

func line(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and finite floats always marshal
	}
	return string(b)
}
