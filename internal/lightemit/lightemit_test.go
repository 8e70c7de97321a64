package lightemit

import (
	"runtime"
	"testing"
	"weak"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// Light and Heavy are the same large element under two types: Light's
// emitter is this package's, Heavy's register's.
type Light struct{ Data []float64 }
type Heavy struct{ Data []float64 }

// emitted tracks the last element either DoFn emitted; reachable is what
// the next stage saw of it.
var (
	emitted   weak.Pointer[float64]
	reachable bool
)

func emitLight(_ []byte, emit func(int32, Light)) {
	l := Light{Data: make([]float64, 1<<20)}
	emitted = weak.Make(&l.Data[0])
	emit(1, l)
}

func emitHeavy(_ []byte, emit func(int32, Heavy)) {
	h := Heavy{Data: make([]float64, 1<<20)}
	emitted = weak.Make(&h.Data[0])
	emit(1, h)
}

// collect runs in the stage after the emitting one, whose plan the
// harness has cached by then, and looks whether the element survives a
// collection.
func collect(_ int32) {
	runtime.GC()
	runtime.GC()
	reachable = emitted.Value() != nil
}

func init() {
	register.Function2x0(emitLight)
	register.Function2x0(emitHeavy)
	register.Function1x0(collect)
	Emitter2[int32, Light]()
	register.Emitter2[int32, Heavy]()
}

// TestEmittersKeepNothing runs a stage that emits an 8 MiB element on the
// embedded Prism runner and checks, in the next stage, whether the element
// can be collected: with this package's emitter it can; with register's it
// is still reachable from the harness's cached plan of the first stage
// (the reason for this package: if a Beam upgrade fixes that, the second
// case fails and the package can go).
func TestEmittersKeepNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   any
		kept bool
	}{{"lightemit", emitLight, false}, {"register", emitHeavy, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			reachable = !tc.kept
			beam.ParDo0(s, collect, beam.Reshuffle(s, beam.DropValue(s, beam.ParDo(s, tc.fn, beam.Impulse(s)))))
			ptest.RunAndValidate(t, p)
			if reachable != tc.kept {
				t.Errorf("in the next stage, the emitted element is reachable: %v, want %v", reachable, tc.kept)
			}
		})
	}
}
