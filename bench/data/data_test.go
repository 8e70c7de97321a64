package data

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/recsys/itemsim/model"
)

func TestLoadScoresLikeThePipeline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.csv")
	body := "user,productSku,type\n" +
		"u1,a,1\nu1,a,1\nu1,b,3\nu1,b,3\n" + // a: 0.5+0.5; b: 6+6 clipped to 6
		"u2,b,2\n" +
		"u2,c,9\n" + // unknown action: dead-lettered
		"u3,c\n" // cut-off line: dead-lettered
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadSource(Source{Path: path, Format: "csv", Header: true, User: "user", Item: "productSku",
		Action: "type", Weights: "1:0.5,2:2,3:6"})
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Row{
		{User: "u1", Items: []string{"a", "b"}, Scores: []float64{1, 6}},
		{User: "u2", Items: []string{"b"}, Scores: []float64{2}},
	}
	if !reflect.DeepEqual(m.Rows, want) {
		t.Errorf("rows = %+v, want %+v", m.Rows, want)
	}
	if m.Bad != 2 {
		t.Errorf("bad rows = %d, want 2", m.Bad)
	}
	if !reflect.DeepEqual(m.IDs, [][]int32{{0, 1}, {1}}) {
		t.Errorf("ids = %v", m.IDs)
	}
	// Norms are of the raw scores (dimsum.ItemTable); the scale is the clip, 6.
	wantNorms := []float64{1, math.Sqrt(36 + 4)}
	for i, n := range m.Table.Norms {
		if math.Abs(n-wantNorms[i]) > 1e-15 {
			t.Errorf("norm of %s = %v, want %v", m.Table.Items[i], n, wantNorms[i])
		}
	}
	if m.Table.Scale != 6 || m.NaivePairs() != 1 || m.Entries() != 3 {
		t.Errorf("scale %v, naive pairs %d, entries %d; want 6, 1, 3", m.Table.Scale, m.NaivePairs(), m.Entries())
	}
}

func TestSourceArgsRoundTrip(t *testing.T) {
	for _, s := range []Source{
		{Path: "u.data", Format: "tsv", User: "0", Item: "1", Score: "2"},
		{Path: "x.csv", Format: "csv", Header: true, User: "user_id", Item: "product_id", Action: "event_type", Weights: "view:0.5,cart:2"},
	} {
		var got Source
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		got.RegisterFlags(fs)
		if err := fs.Parse(s.Args()); err != nil {
			t.Fatal(err)
		}
		if s.Score != "" {
			got.Weights = s.Weights // not rendered for a score field
		}
		if got != s {
			t.Errorf("%v parsed back as %+v", s.Args(), got)
		}
	}
}
