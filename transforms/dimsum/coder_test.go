package dimsum

import (
	"reflect"
	"testing"

	"github.com/recsys/itemsim/internal/exactsum"
)

func TestPartialRowCoderRoundTrip(t *testing.T) {
	for _, p := range []PartialRow{
		{J: []int32{}, Sums: []exactsum.Sum{}},
		{J: []int32{0}, Sums: []exactsum.Sum{exactsum.Of(0x1p-64)}},
		{J: []int32{3, 4, 1 << 30}, Sums: []exactsum.Sum{exactsum.Of(1.5), exactsum.Of(0.1, 0x1p-130), exactsum.Of(0x1p40)}},
		{J: []int32{2, 9}, Sums: []exactsum.Sum{exactsum.Of(1.5), exactsum.Of(3)}, Counts: []int32{1, 1<<31 - 1}},
		{J: []int32{}, Sums: []exactsum.Sum{}, Counts: []int32{}},
	} {
		if n, want := EncodedSize(p), len(encodePartialRow(p)); n != want {
			t.Errorf("EncodedSize(%+v) = %d, encoding is %d bytes", p, n, want)
		}
		got, err := decodePartialRow(encodePartialRow(p))
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("round trip of %+v = %+v, %v", p, got, err)
		}
	}
}

func TestPartialBlockCoderRoundTrip(t *testing.T) {
	for _, pb := range []PartialBlock{
		{Items: []int32{}, Rows: []PartialRow{}},
		{Items: []int32{7, 1 << 30}, Rows: []PartialRow{
			{J: []int32{8, 9}, Sums: []exactsum.Sum{exactsum.Of(1, 1e300), exactsum.Of(3e-20)}},
			{J: []int32{}, Sums: []exactsum.Sum{}},
		}},
		{Items: []int32{1}, Rows: []PartialRow{{J: []int32{5}, Sums: []exactsum.Sum{exactsum.Of(2)}, Counts: []int32{4}}}},
	} {
		got, err := decodePartialBlock(encodePartialBlock(pb))
		if err != nil || !reflect.DeepEqual(got, pb) {
			t.Errorf("round trip of %+v = %+v, %v", pb, got, err)
		}
	}
}

// TestItemSquaresCoderRoundTrip: the largest score travels with the
// squares (the scale when no clip bounds the scores), and a header too
// short for it is an error.
func TestItemSquaresCoderRoundTrip(t *testing.T) {
	for _, q := range []itemSquares{
		{Items: []itemSq{}},
		{Max: 1e150, Items: []itemSq{{Item: "a", SumSq: exactsum.Of(0x1p-1074)}, {Item: "", SumSq: exactsum.Of(2.5, 1e300)}}},
		{Max: 6, Users: 1 << 40, Items: []itemSq{{Item: "b", SumSq: exactsum.Of(36), Sum: exactsum.Of(6, 0.5), Count: 1 << 33}}},
	} {
		got, err := decodeItemSquares(encodeItemSquares(q))
		if err != nil || !reflect.DeepEqual(got, q) {
			t.Errorf("round trip of %+v = %+v, %v", q, got, err)
		}
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, encodeItemSquares(itemSquares{Max: 3, Items: []itemSq{{Item: "x"}}})[:9]} {
		if _, err := decodeItemSquares(b); err == nil {
			t.Errorf("decodeItemSquares(%x) succeeded", b)
		}
	}
}

// FuzzDecodePartialRow: corrupt bytes give an error, never a panic or a
// row (or block of rows) that does not encode back to the same bytes.
func FuzzDecodePartialRow(f *testing.F) {
	f.Add(encodePartialRow(PartialRow{J: []int32{1, 5}, Sums: []exactsum.Sum{exactsum.Of(7e-3), exactsum.Of(2, 0x1p-1074)}}))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add(encodePartialBlock(PartialBlock{Items: []int32{2}, Rows: []PartialRow{{J: []int32{3}, Sums: []exactsum.Sum{exactsum.Of(0x1p-64)}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pb, err := decodePartialBlock(b); err == nil {
			if q, err := decodePartialBlock(encodePartialBlock(pb)); err != nil || !reflect.DeepEqual(pb, q) {
				t.Fatalf("block decode(encode(decode(b))) = %+v, %v; want %+v", q, err, pb)
			}
		}
		p, err := decodePartialRow(b)
		if err != nil {
			return
		}
		if again := encodePartialRow(p); string(again) != string(b) {
			// Non-minimal varints decode to the same row; only the row matters.
			q, err := decodePartialRow(again)
			if err != nil || !reflect.DeepEqual(p, q) {
				t.Fatalf("decode(encode(decode(b))) = %+v, %v; want %+v", q, err, p)
			}
		}
	})
}
