package dimsum

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
)

// PartialRows are the bulk of the shuffle: the reflective schema coder spent
// more time encoding and decoding them than the pair arithmetic took. This
// coder writes the count, the ids as ascending deltas (uvarint) and each sum
// in exactsum's compact binary form.
// A PartialBlock is a count and then, per row, its item id (uvarint) and
// the row's encoding.
func init() {
	beam.RegisterCoder(reflect.TypeOf(PartialRow{}), encodePartialRow, decodePartialRow)
	beam.RegisterCoder(reflect.TypeOf(PartialBlock{}), encodePartialBlock, decodePartialBlock)
	beam.RegisterCoder(reflect.TypeOf(itemSquares{}), encodeItemSquares, decodeItemSquares)
}

// encodeItemSquares writes the largest score (8 bytes, little endian), the
// users and the item count, then each item as its length, bytes, users and
// sums.
func encodeItemSquares(q itemSquares) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 24+32*len(q.Items)), math.Float64bits(q.Max))
	b = binary.AppendUvarint(b, uint64(q.Users))
	b = binary.AppendUvarint(b, uint64(len(q.Items)))
	for _, it := range q.Items {
		b = binary.AppendUvarint(b, uint64(len(it.Item)))
		b = binary.AppendUvarint(append(b, it.Item...), uint64(it.Count))
		b = it.Sum.AppendBinary(it.SumSq.AppendBinary(b))
	}
	return b
}

func decodeItemSquares(b []byte) (itemSquares, error) {
	if len(b) < 8 {
		return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares header")
	}
	largest := math.Float64frombits(binary.LittleEndian.Uint64(b))
	b = b[8:]
	users, k := binary.Uvarint(b)
	if k <= 0 || users > math.MaxInt64 {
		return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares header")
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares header")
	}
	b = b[k:]
	q := itemSquares{Max: largest, Users: int64(users), Items: make([]itemSq, n)}
	for x := range q.Items {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares item %d", x)
		}
		it := &q.Items[x]
		it.Item = string(b[k : k+int(l)])
		b = b[k+int(l):]
		count, k := binary.Uvarint(b)
		if k <= 0 || count > math.MaxInt64 {
			return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares count %d", x)
		}
		it.Count = int64(count)
		b = b[k:]
		for _, sum := range []*exactsum.Sum{&it.SumSq, &it.Sum} {
			v, m, err := exactsum.Decode(b)
			if err != nil {
				return itemSquares{}, fmt.Errorf("dimsum: corrupt itemSquares sum %d: %w", x, err)
			}
			*sum, b = v, b[m:]
		}
	}
	if len(b) != 0 {
		return itemSquares{}, fmt.Errorf("dimsum: %d trailing bytes after itemSquares", len(b))
	}
	return q, nil
}

func encodePartialRow(p PartialRow) []byte {
	return appendPartialRow(make([]byte, 0, binary.MaxVarintLen64+len(p.J)*11), p)
}

func encodePartialBlock(pb PartialBlock) []byte {
	n := binary.MaxVarintLen64
	for _, r := range pb.Rows {
		n += 2*binary.MaxVarintLen32 + 11*len(r.J) // an estimate, like encodePartialRow's
	}
	b := binary.AppendUvarint(make([]byte, 0, n), uint64(len(pb.Items)))
	for k, i := range pb.Items {
		b = appendPartialRow(binary.AppendUvarint(b, uint64(i)), pb.Rows[k])
	}
	return b
}

// appendPartialRow writes a header (the length, doubled, plus 1 when the
// row carries users' counts), the ids as deltas, the sums, then any counts
// (uvarint).
func appendPartialRow(b []byte, p PartialRow) []byte {
	b = binary.AppendUvarint(b, partialHeader(p))
	prev := int32(-1)
	for _, j := range p.J {
		b = binary.AppendUvarint(b, uint64(j-prev))
		prev = j
	}
	for _, s := range p.Sums {
		b = s.AppendBinary(b)
	}
	for _, c := range p.Counts {
		b = binary.AppendUvarint(b, uint64(c))
	}
	return b
}

func partialHeader(p PartialRow) uint64 {
	h := 2 * uint64(len(p.J))
	if p.Counts != nil {
		h++
	}
	return h
}

// EncodedSize is the size of a PartialRow's encoding, counted without
// encoding it (for the dimsum/partial_bytes counter).
func EncodedSize(p PartialRow) int {
	n := uvarintLen(partialHeader(p))
	prev := int32(-1)
	for _, j := range p.J {
		n += uvarintLen(uint64(j - prev))
		prev = j
	}
	for _, s := range p.Sums {
		n += s.EncodedLen()
	}
	for _, c := range p.Counts {
		n += uvarintLen(uint64(c))
	}
	return n
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func decodePartialRow(b []byte) (PartialRow, error) {
	p, rest, err := readPartialRow(b)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("dimsum: %d trailing bytes after PartialRow", len(rest))
	}
	return p, err
}

func decodePartialBlock(b []byte) (PartialBlock, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return PartialBlock{}, fmt.Errorf("dimsum: corrupt PartialBlock header")
	}
	b = b[k:]
	pb := PartialBlock{Items: make([]int32, n), Rows: make([]PartialRow, n)}
	for x := range pb.Items {
		i, k := binary.Uvarint(b)
		if k <= 0 || i > 1<<31-1 {
			return PartialBlock{}, fmt.Errorf("dimsum: corrupt PartialBlock item %d", x)
		}
		pb.Items[x] = int32(i)
		var err error
		if pb.Rows[x], b, err = readPartialRow(b[k:]); err != nil {
			return PartialBlock{}, err
		}
	}
	if len(b) != 0 {
		return PartialBlock{}, fmt.Errorf("dimsum: %d trailing bytes after PartialBlock", len(b))
	}
	return pb, nil
}

// readPartialRow decodes the PartialRow at the start of b and returns the
// bytes after it.
func readPartialRow(b []byte) (PartialRow, []byte, error) {
	h, k := binary.Uvarint(b)
	n := h / 2
	if k <= 0 || n > uint64(len(b)) {
		return PartialRow{}, nil, fmt.Errorf("dimsum: corrupt PartialRow header")
	}
	b = b[k:]
	p := PartialRow{J: make([]int32, n), Sums: make([]exactsum.Sum, n)}
	prev := int64(-1)
	for i := range p.J {
		d, k := binary.Uvarint(b)
		if k <= 0 || d == 0 || prev+int64(d) > 1<<31-1 {
			return PartialRow{}, nil, fmt.Errorf("dimsum: corrupt PartialRow id %d", i)
		}
		prev += int64(d)
		p.J[i] = int32(prev)
		b = b[k:]
	}
	for i := range p.Sums {
		sum, k, err := exactsum.Decode(b)
		if err != nil {
			return PartialRow{}, nil, fmt.Errorf("dimsum: corrupt PartialRow sum %d: %w", i, err)
		}
		p.Sums[i] = sum
		b = b[k:]
	}
	if h%2 == 1 {
		p.Counts = make([]int32, n)
		for i := range p.Counts {
			c, k := binary.Uvarint(b)
			if k <= 0 || c > math.MaxInt32 {
				return PartialRow{}, nil, fmt.Errorf("dimsum: corrupt PartialRow count %d", i)
			}
			p.Counts[i] = int32(c)
			b = b[k:]
		}
	}
	return p, b, nil
}
