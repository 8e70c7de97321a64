package als

import (
	"fmt"
	"testing"
)

// testBlock is a user block built from a few pairs, one held out.
func testBlock(t testing.TB) Block {
	p := Pairs{}
	p.add("u1", "a", 0.5, false)
	p.add("u1", "b", 6, true)
	p.add("u2", "a", 2, false)
	p.add("u2", "c", 1.25, false)
	b, err := buildBlock(3, userSide, 4, []Pairs{p})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCodersRoundTrip: every coded type decodes to what was encoded.
func TestCodersRoundTrip(t *testing.T) {
	p := Pairs{}
	p.add("u", "i", 0.1, true)
	p.add("v", "j", 6, false)
	for _, c := range []struct {
		v      any
		encode func(any) []byte
		decode func([]byte) (any, error)
	}{
		{p, func(v any) []byte { return encodePairs(v.(Pairs)) }, func(b []byte) (any, error) { return decodePairs(b) }},
		{testBlock(t), func(v any) []byte { return encodeBlock(v.(Block)) }, func(b []byte) (any, error) { return decodeBlock(b) }},
		{Message{From: 7, Factors: []float64{0.1, -3e-300, 5}}, func(v any) []byte { return encodeMessage(v.(Message)) }, func(b []byte) (any, error) { return decodeMessage(b) }},
		{FactorBlock{Ids: []string{"a", "b"}, Factors: []float64{1, 2, 3, -4}}, func(v any) []byte { return encodeFactorBlock(v.(FactorBlock)) }, func(b []byte) (any, error) { return decodeFactorBlock(b) }},
	} {
		got, err := c.decode(c.encode(c.v))
		// fmt prints nil and empty slices alike, as the coder treats them.
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.v) {
			t.Errorf("%T: decoded %+v, %v; want %+v", c.v, got, err, c.v)
		}
		if b := c.encode(c.v); len(b) > 0 {
			if _, err := c.decode(b[:len(b)-1]); err == nil {
				t.Errorf("%T: a truncated encoding decoded", c.v)
			}
		}
	}
}

// FuzzDecodeBlock: corrupt bytes give an error, never a panic, and what
// decodes encodes to bytes that decode to the same block (uvarints may
// come in longer forms than the encoder writes).
func FuzzDecodeBlock(f *testing.F) {
	f.Add(encodeBlock(testBlock(f)))
	f.Add(encodeMessage(Message{From: 1, Factors: []float64{1, 2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if blk, err := decodeBlock(b); err == nil {
			again, err := decodeBlock(encodeBlock(blk))
			if err != nil || fmt.Sprintf("%+v", again) != fmt.Sprintf("%+v", blk) {
				t.Errorf("decoded %+v re-encodes to %+v, %v", blk, again, err)
			}
		}
		decodeMessage(b)
		decodePairs(b)
		decodeFactorBlock(b)
	})
}
