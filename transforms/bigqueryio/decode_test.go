package bigqueryio

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/recsys/itemsim/internal/bigquerytest"
	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestColumnTypes reads one row per supported column type combination
// through a session and checks that it means what the same record means in
// a CSV file (as BigQuery would export it): the same event or the same
// reason to set it aside.
func TestColumnTypes(t *testing.T) {
	action := interactions.Spec{UserField: "u", ItemField: "i", ActionField: "v", TimeField: "t",
		Weights: model.Weights{"view": 1, "2": 2.5}}
	score := interactions.Spec{UserField: "u", ItemField: "i", ScoreField: "v"}
	ts := func(d time.Duration) time.Time { return base.Add(d) }
	ev := func(u, i string, w float64) interactions.Event {
		return interactions.Event{User: u, Item: i, Weight: w}
	}
	at := func(e interactions.Event, unix int64) interactions.Event {
		e.Time, e.HasTime = unix, true
		return e
	}
	for _, tc := range []struct {
		name   string
		types  []string // user, item, value[, time]
		row    []any
		spec   interactions.Spec
		csv    string // the record as a file would hold it
		want   interactions.Event
		reason string
	}{
		{"STRING ids and action, TIMESTAMP time", []string{"STRING", "STRING", "STRING", "TIMESTAMP"},
			[]any{"u1", "i1", "view", ts(1500 * time.Millisecond)}, action,
			"u1,i1,view,2024-03-01 00:00:01.500000 UTC", at(ev("u1", "i1", 1), base.Unix()+1), ""},
		{"INT64 ids, action and time", []string{"INT64", "INT64", "INT64", "INT64"},
			[]any{int64(42), int64(-7), int64(2), int64(1700000000)}, action,
			"42,-7,2,1700000000", at(ev("42", "-7", 2.5), 1700000000), ""},
		{"TIMESTAMP before 1970 rounds down", []string{"STRING", "STRING", "STRING", "TIMESTAMP"},
			[]any{"u1", "i1", "view", time.Unix(0, -500e6)}, action,
			"u1,i1,view,1969-12-31 23:59:59.500000 UTC", at(ev("u1", "i1", 1), -1), ""},
		{"FLOAT64 score", []string{"STRING", "STRING", "FLOAT64"},
			[]any{"u1", "i1", 0.1}, score, "u1,i1,0.1", ev("u1", "i1", 0.1), ""},
		{"FLOAT64 score, extreme", []string{"STRING", "STRING", "FLOAT64"},
			[]any{"u1", "i1", 4.9e-324}, score, "u1,i1,5e-324", ev("u1", "i1", 4.9e-324), ""},
		{"NUMERIC score", []string{"STRING", "STRING", "NUMERIC"},
			[]any{"u1", "i1", "12345678901234567890.123456789"}, score,
			"u1,i1,12345678901234567890.123456789", ev("u1", "i1", 12345678901234567890.123456789), ""},
		{"NUMERIC score, smallest", []string{"STRING", "STRING", "NUMERIC"},
			[]any{"u1", "i1", "0.000000001"}, score, "u1,i1,1E-9", ev("u1", "i1", 1e-9), ""},
		{"INT64 score, INT64 ids", []string{"INT64", "INT64", "INT64"},
			[]any{int64(1), int64(2), int64(7)}, score, "1,2,7", ev("1", "2", 7), ""},
		{"FLOAT64 NaN score", []string{"STRING", "STRING", "FLOAT64"},
			[]any{"u1", "i1", math.NaN()}, score, "u1,i1,NaN", interactions.Event{}, interactions.ReasonNonFinite},
		{"negative NUMERIC score", []string{"STRING", "STRING", "NUMERIC"},
			[]any{"u1", "i1", "-2.5"}, score, "u1,i1,-2.5", interactions.Event{}, interactions.ReasonNegativeScore},
		{"NULL score", []string{"STRING", "STRING", "FLOAT64"},
			[]any{"u1", "i1", nil}, score, "u1,i1,", interactions.Event{}, interactions.ReasonBadScore},
		{"NULL INT64 user", []string{"INT64", "STRING", "FLOAT64"},
			[]any{nil, "i1", 1.0}, score, ",i1,1", interactions.Event{}, interactions.ReasonEmptyUser},
		{"INT64 action without weight", []string{"STRING", "STRING", "INT64", "TIMESTAMP"},
			[]any{"u1", "i1", int64(9), ts(0)}, action, "u1,i1,9,2024-03-01 00:00:00 UTC", interactions.Event{}, interactions.ReasonUnknownAction},
		{"NULL TIMESTAMP", []string{"STRING", "STRING", "STRING", "TIMESTAMP"},
			[]any{"u1", "i1", "view", nil}, action, "u1,i1,view,", interactions.Event{}, interactions.ReasonBadTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := bigquerytest.New(t)
			var tab bigquerytest.Table
			for j, typ := range tc.types {
				tab.Columns = append(tab.Columns, bigquerytest.Column{Name: []string{"u", "i", "v", "t"}[j], Type: typ})
			}
			tab.Rows = [][]any{tc.row}
			srv.AddTable("proj.ds.t", tab)
			events, dead, err := readDirect(t, "bq://proj.ds.t", tc.spec, serverOptions(srv))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.reason == "" && (len(events) != 1 || events[0] != tc.want || len(dead) != 0):
				t.Errorf("read %v, dead %v; want event %v", events, dead, tc.want)
			case tc.reason != "" && (len(dead) != 1 || dead[0].Reason != tc.reason || len(events) != 0):
				t.Errorf("read %v, dead %v; want reason %s", events, dead, tc.reason)
			}

			fileSpec := tc.spec
			fileSpec.Format = interactions.FormatCSV
			fileSpec.UserField, fileSpec.ItemField, fileSpec.TimeField = "0", "1", ""
			if fileSpec.ActionField != "" {
				fileSpec.ActionField, fileSpec.TimeField = "2", "3"
			} else {
				fileSpec.ScoreField = "2"
			}
			p, err := interactions.NewParser(fileSpec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e, reason := p.Parse(tc.csv); e != tc.want || reason != tc.reason {
				t.Errorf("the file record %q gives %v %q, want %v %q", tc.csv, e, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestDecimalText(t *testing.T) {
	big38, _ := new(big.Int).SetString("-99999999999999999999999999999999999999", 10)
	for _, tc := range []struct {
		unscaled *big.Int
		scale    int32
		want     string
	}{
		{big.NewInt(1500000000), 9, "1.5"},
		{big.NewInt(1), 9, "0.000000001"},
		{big.NewInt(-2500000000), 9, "-2.5"},
		{big.NewInt(0), 9, "0"},
		{big.NewInt(3000000000), 9, "3"},
		{big.NewInt(12), 0, "12"},
		{big.NewInt(12), -2, "1200"},
		{big38, 9, "-99999999999999999999999999999.999999999"},
	} {
		if got := decimalText(tc.unscaled, tc.scale); got != tc.want {
			t.Errorf("decimalText(%v, %d) = %q, want %q", tc.unscaled, tc.scale, got, tc.want)
		}
		// The text must be what the parser reads as the decimal's value.
		f, _ := new(big.Rat).SetFrac(tc.unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(tc.scale, 0))), nil)).Float64()
		if tc.scale < 0 {
			f *= math.Pow10(int(-tc.scale))
		}
		if got, _ := strconv.ParseFloat(decimalText(tc.unscaled, tc.scale), 64); got != f {
			t.Errorf("decimalText(%v, %d) parses as %v, want %v", tc.unscaled, tc.scale, got, f)
		}
	}
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "connection reset"), true},
		{status.Error(codes.DeadlineExceeded, "deadline"), true},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM with error code: INTERNAL_ERROR"), true},
		{status.Error(codes.Internal, "Received unexpected EOS on DATA frame from server"), true},
		{status.Error(codes.Internal, "a bug"), false},
		{status.Error(codes.NotFound, "no table"), false},
		{status.Error(codes.PermissionDenied, "no"), false},
		{fmt.Errorf("not a status"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
