package interactions

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// A Batch crosses a shuffle when a consumer waits for a side input (the
// decay's reference time); the reflective schema coder would cost more than
// the parsing, so batches get a compact coder: the count, then per event
// the user and the item (uvarint length and bytes), the weight (8 bytes),
// and the time (zigzag varint, present when the flag byte is 1).
func init() {
	beam.RegisterCoder(reflect.TypeOf(Batch{}), encodeBatch, decodeBatch)
}

var errCorruptBatch = errors.New("interactions: corrupt Batch encoding")

func encodeBatch(b Batch) []byte {
	out := binary.AppendUvarint(make([]byte, 0, 32*len(b.Events)), uint64(len(b.Events)))
	for _, e := range b.Events {
		out = append(binary.AppendUvarint(out, uint64(len(e.User))), e.User...)
		out = append(binary.AppendUvarint(out, uint64(len(e.Item))), e.Item...)
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(e.Weight))
		if e.HasTime {
			out = binary.AppendVarint(append(out, 1), e.Time)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

func decodeBatch(data []byte) (Batch, error) {
	n, k := binary.Uvarint(data)
	// Every event takes at least 11 bytes, which bounds the allocation.
	if k <= 0 || n > uint64(len(data))/11+1 {
		return Batch{}, errCorruptBatch
	}
	data = data[k:]
	str := func() (string, bool) {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return "", false
		}
		s := string(data[k : k+int(l)])
		data = data[k+int(l):]
		return s, true
	}
	b := Batch{Events: make([]Event, n)}
	for i := range b.Events {
		e := &b.Events[i]
		var ok1, ok2 bool
		e.User, ok1 = str()
		e.Item, ok2 = str()
		if !ok1 || !ok2 || len(data) < 9 {
			return Batch{}, errCorruptBatch
		}
		e.Weight = math.Float64frombits(binary.LittleEndian.Uint64(data))
		switch flag := data[8]; flag {
		case 0:
			data = data[9:]
		case 1:
			t, k := binary.Varint(data[9:])
			if k <= 0 {
				return Batch{}, errCorruptBatch
			}
			e.Time, e.HasTime = t, true
			data = data[9+k:]
		default:
			return Batch{}, errCorruptBatch
		}
	}
	if len(data) != 0 {
		return Batch{}, errCorruptBatch
	}
	return b, nil
}
