package interactions

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/recsys/itemsim/model"
)

func init() {
	register.Function2x0(timedMessage)
	register.Function2x1(describeEvent)
	register.Function1x1(describeDead)
}

// timedMessage turns "millis|payload" into the payload at that time.
func timedMessage(s string, emit func(beam.EventTime, []byte)) {
	ms, payload, _ := strings.Cut(s, "|")
	t, _ := strconv.ParseInt(ms, 10, 64)
	emit(mtime.FromMilliseconds(t), []byte(payload))
}

func describeEvent(et beam.EventTime, e Event) string {
	return fmt.Sprintf("%s %s %g t=%d at %d", e.User, e.Item, e.Weight, e.Time, et.Milliseconds())
}

func describeDead(d DeadLetter) string { return d.Reason + " " + d.File + " " + d.Line }

// TestMessages parses a stream's messages on Prism: good ones become events
// at their event time (the time field's, else the message's, rounded down
// to the second), bad ones dead letters with their reason and source.
func TestMessages(t *testing.T) {
	weights := model.Weights{"view": 0.5, "cart": 2}
	cases := []struct {
		name     string
		spec     Spec
		messages []string
		events   []string
		dead     []string
	}{
		{
			name: "jsonl with time",
			spec: Spec{Format: FormatJSONL, UserField: "u", ItemField: "i", ActionField: "a", TimeField: "t", Weights: weights},
			messages: []string{
				`5000|{"u":"alice","i":"x","a":"view","t":"1700000000"}` + "\n",
				`5000|{"u":"bob","i":"y","a":"cart","t":"2023-11-14T22:13:21Z"}`,
				`5000|{"u":"bob","i":"y","a":"buy","t":"1700000000"}`,
				`5000|not json`,
			},
			events: []string{"alice x 0.5 t=1700000000 at 1700000000000", "bob y 2 t=1700000001 at 1700000001000"},
			dead:   []string{`unknown_action kafka://t {"u":"bob","i":"y","a":"buy","t":"1700000000"}`, "malformed_record kafka://t not json"},
		},
		{
			name:     "csv, message time",
			spec:     Spec{Format: FormatCSV, UserField: "0", ItemField: "1", ScoreField: "2"},
			messages: []string{"1700000000999|carol,z,4", "-1500|dave,z,1", "7|carol,z", "7|carol,z,-1"},
			events:   []string{"carol z 4 t=1700000000 at 1700000000000", "dave z 1 t=-2 at -2000"},
			dead:     []string{"field_count kafka://t carol,z", "negative_score kafka://t carol,z,-1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			msgs := beam.ParDo(s, timedMessage, beam.CreateList(s, tc.messages))
			events, dead := Messages(s, tc.spec, "kafka://t", msgs)
			passert.EqualsList(s, beam.ParDo(s, describeEvent, events), tc.events)
			passert.EqualsList(s, beam.ParDo(s, describeDead, dead), tc.dead)
			ptest.RunAndValidate(t, p)
		})
	}
}

// TestMessagesRefusesNamedColumns: CSV messages have no header, so a field
// named by a header column fails when the pipeline is built.
func TestMessagesRefusesNamedColumns(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "0-based column index") {
			t.Fatalf("got %v, want a panic asking for an index", r)
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	Messages(s, Spec{Format: FormatCSV, UserField: "user", ItemField: "1", ScoreField: "2"}, "k", beam.Create(s, []byte("a")))
}
