// Package lightemit registers Beam emitters that keep no reference to
// what they emitted.
//
// register.Emitter1 and Emitter2 make fast emitters that store the last
// element in a field, and the SDK harness caches each stage's plan, its
// emitters included, for reuse: a stage's last output stays reachable
// until the worker exits. A pipeline built by unrolling a loop (ALS's
// half-steps) emits one block-sized element per stage, so every stage
// kept a copy of its output. These emitters are register's without the
// field: the element lives on the stack of the call.
package lightemit

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// Emitter1 registers func(T) as register.Emitter1 does (T's type
// included), with an emitter that keeps nothing. Call it in init after
// any register.Emitter1[T] of other packages: the last registration wins.
func Emitter1[T any]() {
	register.Emitter1[T]()
	exec.RegisterEmitter(reflect.TypeFor[func(T)](), func(n exec.ElementProcessor) exec.ReusableEmitter {
		e := &emitter{n: n}
		e.fn = func(v T) { e.emit(exec.FullValue{Elm: v}) }
		return e
	})
}

// Emitter2 registers func(K, V) as register.Emitter2 does, with an
// emitter that keeps nothing; K must not be beam.EventTime.
func Emitter2[K, V any]() {
	register.Emitter2[K, V]()
	exec.RegisterEmitter(reflect.TypeFor[func(K, V)](), func(n exec.ElementProcessor) exec.ReusableEmitter {
		e := &emitter{n: n}
		e.fn = func(k K, v V) { e.emit(exec.FullValue{Elm: k, Elm2: v}) }
		return e
	})
}

// emitter is an exec.ReusableEmitter whose function (fn) hands each
// element to n in the window, pane and time of the current element.
type emitter struct {
	n   exec.ElementProcessor
	fn  any
	ctx context.Context
	pn  typex.PaneInfo
	ws  []typex.Window
	et  typex.EventTime
}

// Init sets the current element's context, pane, windows and time.
func (e *emitter) Init(ctx context.Context, pn typex.PaneInfo, ws []typex.Window, et typex.EventTime) error {
	e.ctx, e.pn, e.ws, e.et = ctx, pn, ws, et
	return nil
}

// Value is the emitter function the DoFn calls.
func (e *emitter) Value() any { return e.fn }

func (e *emitter) emit(v exec.FullValue) {
	v.Pane, v.Windows, v.Timestamp = e.pn, e.ws, e.et
	if err := e.n.ProcessElement(e.ctx, &v); err != nil {
		panic(err) // as register's emitters: the SDK recovers it as the DoFn's error
	}
}
