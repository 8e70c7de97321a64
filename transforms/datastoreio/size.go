package datastoreio

import (
	"cloud.google.com/go/datastore"
	"github.com/recsys/itemsim/simstore"
)

// Upper bounds of protobuf framing (tags, lengths, the Value wrapper and its
// exclude_from_indexes flag) per encoded part, so that sums of estimates
// bound the real Commit request size from above; the test against the
// in-process server checks it.
const (
	stringOverhead   = 16
	doubleBytes      = 16
	pathElemOverhead = 16
	entityOverhead   = 128 // partition id, timestamp, property names and map framing
	requestOverhead  = 1024
)

// entityBytes bounds the encoded size of the upsert of e at key.
func entityBytes(key *datastore.Key, e *simstore.Entity) int {
	n := entityOverhead + keyBytes(key) + len(e.Version) + stringOverhead
	for _, it := range e.Items {
		n += len(it) + stringOverhead
	}
	return n + len(e.Scores)*doubleBytes
}

// keyBytes bounds the encoded size of key, in a delete or inside an entity.
func keyBytes(key *datastore.Key) int {
	n := len(key.Namespace) + stringOverhead
	for k := key; k != nil; k = k.Parent {
		n += len(k.Kind) + len(k.Name) + pathElemOverhead
	}
	return n
}
