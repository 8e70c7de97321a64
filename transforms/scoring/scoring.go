// Package scoring is the Beam side of the scoring rules: PerUser groups a
// PCollection of interaction events by user and applies model.Aggregate to
// each user's events (weights decayed by age, summed or maxed per item,
// clipped, the user's items capped to the best-scored ones). The rules
// themselves are model.Rules, shared with the server; what is here is how
// users are sharded across the shuffle.
package scoring

import (
	"fmt"

	"github.com/recsys/itemsim/internal/idhash"
	"github.com/recsys/itemsim/model"
)

// Config is the scoring rules and how PerUser shards users.
type Config struct {
	model.Rules
	// Shards is the number of user shards PerUser groups by; 0 means
	// DefaultShards.
	Shards int
}

// DefaultShards is the default number of user shards: enough for the
// aggregation to spread over many workers, few enough that each bundle
// ships a few large elements.
const DefaultShards = 256

// shards resolves the configured number of user shards.
func (c Config) shards() int {
	if c.Shards > 0 {
		return c.Shards
	}
	return DefaultShards
}

// ShardOf returns the shard in [0, n) of a user: FNV-1a of the name, the
// same in every process.
func ShardOf(user string, n int) int64 { return int64(idhash.Shard(user, n)) }

// Validate reports an inconsistent configuration in terms of its flags:
// the rules' (model.Rules.Validate), then the shards'.
func (c Config) Validate() error {
	if err := c.Rules.Validate(); err != nil {
		return err
	}
	if c.Shards < 0 {
		return fmt.Errorf("--user_shards must be >= 0 (0 means %d)", DefaultShards)
	}
	return nil
}

// Shard is some users' rows, users ascending: the element PerUser
// returns. Users hash to a fixed number of shards, so a few large elements
// cross each shuffle instead of one per user: Prism and portable Flink pay
// per element.
type Shard struct {
	Rows []model.Row
}

// PartialShard is one bundle's partials of one shard's users, aligned.
type PartialShard struct {
	Users []string
	Parts []model.Partial
}
