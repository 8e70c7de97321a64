package data

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/transforms/interactions"
)

// Source names an input file and how to read it, in the pipeline's flag
// vocabulary, so the pipeline, the Go peer and the scipy peer receive the
// same flags.
type Source struct {
	Path, Format string
	Header       bool
	User, Item   string
	// Action (with Weights) or Score: exactly one is set.
	Action, Weights, Score string
}

// Args renders the source as the pipeline's flags.
func (s Source) Args() []string {
	a := []string{"--input=" + s.Path, "--format=" + s.Format, "--header=" + strconv.FormatBool(s.Header),
		"--user_field=" + s.User, "--item_field=" + s.Item}
	if s.Score != "" {
		return append(a, "--score_field="+s.Score)
	}
	return append(a, "--action_field="+s.Action, "--weights="+s.Weights)
}

// RegisterFlags binds the flags Args renders to s on fs.
func (s *Source) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Path, "input", "", "Input file.")
	fs.StringVar(&s.Format, "format", "csv", "csv, tsv or jsonl.")
	fs.BoolVar(&s.Header, "header", true, "The file starts with a header row.")
	fs.StringVar(&s.User, "user_field", "user", "User field.")
	fs.StringVar(&s.Item, "item_field", "productSku", "Item field.")
	fs.StringVar(&s.Action, "action_field", "", "Action field, mapped through --weights.")
	fs.StringVar(&s.Weights, "weights", "1:0.5,2:2,3:6", "Action weights.")
	fs.StringVar(&s.Score, "score_field", "", "Numeric score field (instead of --action_field).")
}

// Config resolves the source into the parser spec and the scoring rules
// the pipeline applies by default: the sum per (user, item), clipped by
// the default --clip_score (model.Weights.ResolveClip: the largest action
// weight, no clip for a score field).
func (s Source) Config() (interactions.Spec, model.Rules, error) {
	spec := interactions.Spec{Format: s.Format, Header: s.Header, UserField: s.User, ItemField: s.Item,
		ActionField: s.Action, ScoreField: s.Score}
	if spec.ActionField == "" && spec.ScoreField == "" {
		spec.ActionField = "type" // the pipeline's default
	}
	if spec.ActionField != "" {
		w, err := model.ParseWeights(s.Weights)
		if err != nil {
			return spec, model.Rules{}, err
		}
		spec.Weights = w
	}
	if err := spec.Validate(); err != nil {
		return spec, model.Rules{}, fmt.Errorf("%s: %v", s.Path, err)
	}
	return spec, model.Rules{Aggregate: model.AggregateSum, Clip: spec.Weights.ResolveClip(model.DefaultClip)}, nil
}

// LoadSource loads s with Load.
func LoadSource(s Source) (*Matrix, error) {
	spec, c, err := s.Config()
	if err != nil {
		return nil, err
	}
	return Load(s.Path, spec, c)
}
