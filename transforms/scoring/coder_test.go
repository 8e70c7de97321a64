package scoring

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/wire"
	"github.com/recsys/itemsim/model"
)

func TestCodersRoundTrip(t *testing.T) {
	for _, p := range []model.Partial{
		{Items: []string{}, Sums: []exactsum.Sum{}, Maxes: []float64{}},
		{Items: []string{"a", "ünï", ""}, Sums: []exactsum.Sum{exactsum.Of(1, 1e300), exactsum.Of(0x1p60, 0.3), {}}, Maxes: []float64{0.5, 6, 0}},
	} {
		if got, err := decodePartial(encodePartial(p)); err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("Partial round trip: %+v, %v; want %+v", got, err, p)
		}
	}
	for _, r := range []model.Row{
		{User: "", Items: []string{}, Scores: []float64{}},
		{User: "u1", Items: []string{"p1", "p2"}, Scores: []float64{0.1, 1e300}},
	} {
		if got, err := decodeRow(encodeRow(r)); err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("Row round trip: %+v, %v; want %+v", got, err, r)
		}
	}
	ps := PartialShard{Users: []string{"u1", ""}, Parts: []model.Partial{
		{Items: []string{"a"}, Sums: []exactsum.Sum{exactsum.Of(3.25)}, Maxes: []float64{2}},
		{Items: []string{}, Sums: []exactsum.Sum{}, Maxes: []float64{}},
	}}
	if got, err := decodePartialShard(encodePartialShard(ps)); err != nil || !reflect.DeepEqual(got, ps) {
		t.Errorf("PartialShard round trip: %+v, %v; want %+v", got, err, ps)
	}
	sh := Shard{Rows: []model.Row{{User: "u1", Items: []string{"a", "b"}, Scores: []float64{1, 2}}, {User: "u2", Items: []string{}, Scores: []float64{}}}}
	if got, err := decodeShard(encodeShard(sh)); err != nil || !reflect.DeepEqual(got, sh) {
		t.Errorf("Shard round trip: %+v, %v; want %+v", got, err, sh)
	}
}

// FuzzDecode: corrupt bytes give an error, never a panic; what decodes
// encodes back to bytes that decode to the same encoding (NaN floats make
// value comparison useless).
func FuzzDecode(f *testing.F) {
	f.Add(encodeRow(model.Row{User: "u", Items: []string{"a"}, Scores: []float64{1}}))
	f.Add(encodePartial(model.Partial{Items: []string{"a"}, Sums: []exactsum.Sum{exactsum.Of(1)}, Maxes: []float64{1}}))
	f.Add(encodeShard(Shard{Rows: []model.Row{{User: "u", Items: []string{"a"}, Scores: []float64{1}}}}))
	f.Add(encodePartialShard(PartialShard{Users: []string{"u"}, Parts: []model.Partial{{Items: []string{"a"}, Sums: []exactsum.Sum{exactsum.Of(1)}, Maxes: []float64{1}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeRow(b); err == nil {
			if again, err := decodeRow(encodeRow(r)); err != nil || !bytes.Equal(encodeRow(again), encodeRow(r)) {
				t.Fatalf("Row %+v does not survive a round trip: %+v, %v", r, again, err)
			}
		}
		if sh, err := decodeShard(b); err == nil {
			if again, err := decodeShard(encodeShard(sh)); err != nil || !bytes.Equal(encodeShard(again), encodeShard(sh)) {
				t.Fatalf("Shard %+v does not survive a round trip: %+v, %v", sh, again, err)
			}
		}
		if ps, err := decodePartialShard(b); err == nil {
			if again, err := decodePartialShard(encodePartialShard(ps)); err != nil || !bytes.Equal(encodePartialShard(again), encodePartialShard(ps)) {
				t.Fatalf("PartialShard %+v does not survive a round trip: %+v, %v", ps, again, err)
			}
		}
		if p, err := decodePartial(b); err == nil {
			if again, err := decodePartial(encodePartial(p)); err != nil || !bytes.Equal(encodePartial(again), encodePartial(p)) {
				t.Fatalf("Partial %+v does not survive a round trip: %+v, %v", p, again, err)
			}
		}
	})
}

// TestCompactFloats: action weights, their sums' fractions and their
// maxima take a few bytes, an arbitrary value at most a uvarint's 10.
func TestCompactFloats(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		max  int
	}{
		{"weight 0.5", wire.AppendFloat(nil, 0.5), 2},
		{"weight 2", wire.AppendFloat(nil, 2), 1},
		{"weight 6", wire.AppendFloat(nil, 6), 2},
		{"score 8.5", wire.AppendFloat(nil, 8.5), 3},
		{"zero", wire.AppendFloat(nil, 0), 1},
		{"fraction .5 of a sum", wire.AppendReversed(nil, 1<<63), 1},
		{"fraction .75 of a sum", wire.AppendReversed(nil, 3<<62), 1},
		{"0.1", wire.AppendFloat(nil, 0.1), 10},
	} {
		if len(tc.b) > tc.max {
			t.Errorf("%s: %d bytes, want at most %d", tc.name, len(tc.b), tc.max)
		}
	}
}
