package interactions

import "github.com/recsys/itemsim/simstore"

// Event is one usable interaction: a weight (an action's weight or a numeric
// score used as is) for a (user, item) at an optional time.
type Event struct {
	User    string
	Item    string
	Weight  float64
	Time    int64 // unix seconds, meaningful when HasTime
	HasTime bool
}

// DeadLetter is an input record that could not be used, with why.
type DeadLetter struct {
	Reason string `json:"reason"`
	File   string `json:"file"`
	Line   string `json:"line"`
}

// Reasons a record is set aside. They name Beam counters ("bad_" + reason)
// and the dead letter's reason field.
const (
	ReasonInvalidUTF8   = "invalid_utf8"
	ReasonMalformed     = "malformed_record"
	ReasonFieldCount    = "field_count"
	ReasonMissingField  = "missing_field"
	ReasonEmptyUser     = "empty_user"
	ReasonEmptyItem     = "empty_item"
	ReasonUnknownAction = "unknown_action"
	ReasonBadScore      = "bad_score"
	ReasonNonFinite     = "non_finite_score"
	ReasonNegativeScore = "negative_score"
	ReasonBadTime       = "bad_time"
	// ReasonScoreOutOfRange: a score above model.MaxScore.
	ReasonScoreOutOfRange = "score_out_of_range"
	// ReasonIDTooLong: a user or item id over MaxIDBytes, which no sink
	// can store (Datastore key names).
	ReasonIDTooLong = "id_too_long"
	// ReasonIDReserved: an item id of the form __name__, which Datastore
	// reserves for key names.
	ReasonIDReserved = "id_reserved"
	// ReasonQuotedNewline: a CSV line with an odd number of quotes: a
	// piece of a record whose quoted field holds a line break (or a stray
	// quote, which looks the same). Files are split into byte ranges at
	// line breaks, so such records are not read whole: their first and last
	// lines are set aside with this reason (a line between them holds no
	// quote and is parsed as it stands).
	ReasonQuotedNewline = "quoted_newline"
)

// MaxIDBytes is the longest user or item id, in bytes: Datastore's key-name
// limit, so that an id that passes parsing can be published.
const MaxIDBytes = simstore.MaxKeyNameBytes

// Reasons lists every reason, for reports that print a count per reason.
var Reasons = []string{
	ReasonInvalidUTF8, ReasonMalformed, ReasonFieldCount, ReasonMissingField,
	ReasonEmptyUser, ReasonEmptyItem, ReasonUnknownAction, ReasonBadScore,
	ReasonNonFinite, ReasonNegativeScore, ReasonBadTime, ReasonScoreOutOfRange,
	ReasonIDTooLong, ReasonIDReserved, ReasonQuotedNewline,
}
