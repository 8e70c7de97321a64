package interactions

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
)

// Reasons lists every reason, for reports that print a count per reason.
var Reasons = []string{
	ReasonInvalidUTF8, ReasonMalformed, ReasonFieldCount, ReasonMissingField,
	ReasonEmptyUser, ReasonEmptyItem, ReasonUnknownAction, ReasonBadScore,
	ReasonNonFinite, ReasonNegativeScore, ReasonBadTime,
}
