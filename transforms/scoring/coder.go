package scoring

import (
	"encoding/binary"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/recsys/itemsim/internal/exactsum"
	"github.com/recsys/itemsim/internal/wire"
	"github.com/recsys/itemsim/model"
)

// Shards cross shuffles and hold most of the job's data; the reflective
// schema coder cost more than the scoring itself, so they get a compact
// coder: package wire's form (floats as their reversed bits, so action
// weights, 0.5, 2, 6, take 1 to 3 bytes), and exact sums in exactsum's
// compact form, which does the same.
// model.Partial and model.Row get the same coder for the pipelines that ship
// them alone (any pipeline that ships them imports this package).
func init() {
	beam.RegisterCoder(reflect.TypeOf(model.Partial{}), encodePartial, decodePartial)
	beam.RegisterCoder(reflect.TypeOf(model.Row{}), encodeRow, decodeRow)
	beam.RegisterCoder(reflect.TypeOf(PartialShard{}), encodePartialShard, decodePartialShard)
	beam.RegisterCoder(reflect.TypeOf(Shard{}), encodeShard, decodeShard)
}

func appendPartial(b []byte, p model.Partial) []byte {
	b = wire.AppendStrings(b, p.Items)
	for k := range p.Items {
		b = p.Sums[k].AppendBinary(b)
		b = wire.AppendFloat(b, p.Maxes[k])
	}
	return b
}

func appendRow(b []byte, r model.Row) []byte {
	b = wire.AppendString(b, r.User)
	b = wire.AppendStrings(b, r.Items)
	for _, s := range r.Scores {
		b = wire.AppendFloat(b, s)
	}
	return b
}

func encodePartial(p model.Partial) []byte { return appendPartial(make([]byte, 0, 32*len(p.Items)), p) }

func encodeRow(r model.Row) []byte {
	return appendRow(make([]byte, 0, len(r.User)+16*len(r.Items)), r)
}

func encodePartialShard(ps PartialShard) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 64*len(ps.Users)), uint64(len(ps.Users)))
	for k, u := range ps.Users {
		b = appendPartial(wire.AppendString(b, u), ps.Parts[k])
	}
	return b
}

func encodeShard(sh Shard) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 64*len(sh.Rows)), uint64(len(sh.Rows)))
	for _, r := range sh.Rows {
		b = appendRow(b, r)
	}
	return b
}

// decoder is wire's, with the project's values.
type decoder struct{ *wire.Decoder }

func (d decoder) partial() model.Partial {
	p := model.Partial{Items: d.Strings()}
	p.Sums = make([]exactsum.Sum, len(p.Items))
	p.Maxes = make([]float64, len(p.Items))
	for k := range p.Items {
		p.Sums[k] = d.Sum()
		p.Maxes[k] = d.Float()
	}
	return p
}

func (d decoder) row() model.Row {
	r := model.Row{User: d.String(), Items: d.Strings()}
	r.Scores = make([]float64, len(r.Items))
	for k := range r.Scores {
		r.Scores[k] = d.Float()
	}
	return r
}

func decodePartial(b []byte) (model.Partial, error) {
	d := decoder{wire.NewDecoder(b)}
	p := d.partial()
	return p, d.Done()
}

func decodeRow(b []byte) (model.Row, error) {
	d := decoder{wire.NewDecoder(b)}
	r := d.row()
	return r, d.Done()
}

func decodePartialShard(b []byte) (PartialShard, error) {
	d := decoder{wire.NewDecoder(b)}
	n := d.Count()
	ps := PartialShard{Users: make([]string, n), Parts: make([]model.Partial, n)}
	for k := range n {
		ps.Users[k] = d.String()
		ps.Parts[k] = d.partial()
	}
	return ps, d.Done()
}

func decodeShard(b []byte) (Shard, error) {
	d := decoder{wire.NewDecoder(b)}
	sh := Shard{Rows: make([]model.Row, d.Count())}
	for k := range sh.Rows {
		sh.Rows[k] = d.row()
	}
	return sh, d.Done()
}
