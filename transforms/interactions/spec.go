package interactions

import (
	"fmt"
	"path"
	"strings"

	"github.com/recsys/itemsim/model"
)

// Input formats.
const (
	FormatCSV   = "csv"
	FormatTSV   = "tsv"
	FormatJSONL = "jsonl"
)

// Spec says how to read one interaction from a record: the format and which
// field holds the user, the item, the action (mapped through Weights) or the
// score (used as is), and optionally the time. A field is a header name, a
// 0-based column index, or a JSON key.
type Spec struct {
	Format      string
	Header      bool
	UserField   string
	ItemField   string
	ActionField string
	ScoreField  string
	TimeField   string
	Weights     model.Weights
}

// Validate reports the first inconsistency of the spec, worded for a user
// who set the flags.
func (s Spec) Validate() error {
	switch s.Format {
	case FormatCSV, FormatTSV, FormatJSONL:
	default:
		return fmt.Errorf("--format=%q: want csv, tsv or jsonl", s.Format)
	}
	if s.UserField == "" || s.ItemField == "" {
		return fmt.Errorf("--user_field and --item_field must both be set")
	}
	if (s.ActionField == "") == (s.ScoreField == "") {
		return fmt.Errorf("set exactly one of --action_field (with --weights) and --score_field")
	}
	if s.ActionField != "" && len(s.Weights) == 0 {
		return fmt.Errorf("--action_field=%s needs --weights, e.g. view:0.5,cart:2,purchase:6", s.ActionField)
	}
	return nil
}

// Complete fills the defaults the pipelines' flags share and validates:
// the seed export's action column "type" when neither an action nor a score
// field is named, the format from the input's extension when unset, and the
// weights parsed from their flag text when actions are read.
func (s Spec) Complete(input, weights string) (Spec, error) {
	if s.ActionField == "" && s.ScoreField == "" {
		s.ActionField = "type"
	}
	if s.Format == "" {
		f, err := FormatFromPath(input)
		if err != nil {
			return s, err
		}
		s.Format = f
	}
	if s.ActionField != "" {
		w, err := model.ParseWeights(weights)
		if err != nil {
			return s, err
		}
		s.Weights = w
	}
	return s, s.Validate()
}

// FormatFromPath infers the format from a file name's extension.
func FormatFromPath(p string) (string, error) {
	ext := strings.ToLower(path.Ext(strings.TrimSuffix(p, ".gz")))
	switch ext {
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return FormatTSV, nil
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL, nil
	}
	return "", fmt.Errorf("cannot infer the format of %q from its extension %q: pass --format=csv|tsv|jsonl", p, ext)
}
