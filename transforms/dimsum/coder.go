package dimsum

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
)

// PartialRows are the bulk of the shuffle: the reflective schema coder spent
// more time encoding and decoding them than the pair arithmetic took. This
// coder writes the count, the ids as ascending deltas (uvarint) and each sum
// as a uvarint integer part plus 8 fixed bytes of fraction.
func init() {
	beam.RegisterCoder(reflect.TypeOf(PartialRow{}), encodePartialRow, decodePartialRow)
}

func encodePartialRow(p PartialRow) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(p.J)*11)
	b = binary.AppendUvarint(b, uint64(len(p.J)))
	prev := int32(-1)
	for _, j := range p.J {
		b = binary.AppendUvarint(b, uint64(j-prev))
		prev = j
	}
	for _, s := range p.Sums {
		b = binary.AppendUvarint(b, s.Hi)
		b = binary.LittleEndian.AppendUint64(b, s.Lo)
	}
	return b
}

// EncodedSize is the size of a PartialRow's encoding, counted without
// encoding it (for the dimsum/partial_bytes counter).
func EncodedSize(p PartialRow) int {
	n := uvarintLen(uint64(len(p.J)))
	prev := int32(-1)
	for _, j := range p.J {
		n += uvarintLen(uint64(j - prev))
		prev = j
	}
	for _, s := range p.Sums {
		n += uvarintLen(s.Hi) + 8
	}
	return n
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func decodePartialRow(b []byte) (PartialRow, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return PartialRow{}, fmt.Errorf("dimsum: corrupt PartialRow header")
	}
	b = b[k:]
	p := PartialRow{J: make([]int32, n), Sums: make([]exactsum.Sum, n)}
	prev := int64(-1)
	for i := range p.J {
		d, k := binary.Uvarint(b)
		if k <= 0 || d == 0 || prev+int64(d) > 1<<31-1 {
			return PartialRow{}, fmt.Errorf("dimsum: corrupt PartialRow id %d", i)
		}
		prev += int64(d)
		p.J[i] = int32(prev)
		b = b[k:]
	}
	for i := range p.Sums {
		hi, k := binary.Uvarint(b)
		if k <= 0 || len(b) < k+8 {
			return PartialRow{}, fmt.Errorf("dimsum: corrupt PartialRow sum %d", i)
		}
		p.Sums[i] = exactsum.Sum{Hi: hi, Lo: binary.LittleEndian.Uint64(b[k:])}
		b = b[k+8:]
	}
	if len(b) != 0 {
		return PartialRow{}, fmt.Errorf("dimsum: %d trailing bytes after PartialRow", len(b))
	}
	return p, nil
}
