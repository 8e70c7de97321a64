package interactions

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x0[context.Context, beam.EventTime, []byte, func(beam.EventTime, Event), func(DeadLetter)](&messageFn{})
	register.Emitter2[beam.EventTime, Event]()
	register.Emitter1[DeadLetter]()
	beam.RegisterType(reflect.TypeOf((*Event)(nil)).Elem())
}

// Messages parses a stream's messages, each one record of spec's format
// without a header (CSV and TSV fields are 0-based indices; see
// NewParser): a PCollection<[]byte> of message payloads, each at its
// message time, becomes a PCollection<Event>, each at its event time (the
// spec's time field, or the message time when the spec names none), and a
// PCollection<DeadLetter> of the messages it cannot use, with the reason and
// source (a name for the dead letter's file field, e.g. kafka://topic).
// Call NewParser(spec, nil) first to check the spec: Messages panics on one
// it refuses.
//
// Counters: interactions/rows, interactions/bad_<reason>, as the file reader's.
func Messages(s beam.Scope, spec Spec, source string, messages beam.PCollection) (events, dead beam.PCollection) {
	s = s.Scope("interactions.Messages")
	if _, err := NewParser(spec, nil); err != nil {
		panic(fmt.Sprintf("interactions.Messages: %v", err))
	}
	return beam.ParDo2(s, &messageFn{Spec: spec, Source: source}, messages)
}

// messageFn parses one message into an event or a dead letter.
type messageFn struct {
	Spec   Spec
	Source string

	parser *Parser
	rows   beam.Counter
	bad    map[string]beam.Counter
}

func (f *messageFn) Setup() error {
	var err error
	f.parser, err = NewParser(f.Spec, nil)
	f.rows = beam.NewCounter("interactions", "rows")
	f.bad = map[string]beam.Counter{}
	for _, r := range Reasons {
		f.bad[r] = beam.NewCounter("interactions", "bad_"+r)
	}
	return err
}

func (f *messageFn) ProcessElement(ctx context.Context, at beam.EventTime, msg []byte, emit func(beam.EventTime, Event), dead func(DeadLetter)) {
	f.rows.Inc(ctx, 1)
	line := strings.TrimSuffix(string(msg), "\n")
	e, reason := f.parser.Parse(line)
	if reason != "" {
		f.bad[reason].Inc(ctx, 1)
		dead(DeadLetter{Reason: reason, File: f.Source, Line: line})
		return
	}
	if !e.HasTime {
		// The message time, rounded down to the second as parsed times are.
		e.Time, e.HasTime = mtime.Time(at).ToTime().Unix(), true
	}
	emit(mtime.FromMilliseconds(e.Time*1000), e)
}
