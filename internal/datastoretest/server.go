// Package datastoretest is an in-process server of the google.datastore.v1
// Datastore gRPC API for tests: the real cloud.google.com/go/datastore client
// talks to it over a loopback listener. It keeps entities in memory, keyed by
// (database, namespace, key path), implements Commit (non-transactional and
// transactional), BeginTransaction, Rollback, Lookup and the queries the
// item-similarity layout needs (kind, keys-only, __key__ ancestor and
// equality filters), enforces Datastore's per-Commit limits and records every
// violation, and injects faults deterministically.
package datastoretest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Datastore limits the server enforces.
const (
	// MaxMutations is the most mutations one Commit may carry.
	MaxMutations = 500
	// MaxCommitBytes is the largest Commit request accepted, in encoded bytes.
	MaxCommitBytes = 9_000_000
	// MaxEntityBytes is the largest entity accepted, in encoded bytes.
	MaxEntityBytes = 1 << 20
	// MaxKeyNameBytes is the longest key name accepted.
	MaxKeyNameBytes = 1500
	// pageSize bounds query batches, so clients exercise cursors.
	pageSize = 1000
)

// Faults configures deterministic fault injection on Commit.
type Faults struct {
	// Seed seeds the RNG that picks failing commits and their codes.
	Seed uint64
	// FailRate is the fraction of commits failing with one of FailCodes.
	FailRate float64
	// FailCodes are the transient codes injected; DeadlineExceeded commits
	// are applied half of the time before failing, as when a reply is lost.
	FailCodes []codes.Code
	// FailOnCommit fails the Nth commit (1-based, counting every Commit
	// call) with InvalidArgument; 0 disables it.
	FailOnCommit int
	// FailForKey fails with InvalidArgument every commit writing an entity
	// whose key name is this; "" disables it.
	FailForKey string
	// Latency delays every commit.
	Latency time.Duration
}

// CommitRecord describes one Commit call.
type CommitRecord struct {
	Mutations     int
	Bytes         int
	Transactional bool
	Code          codes.Code
}

// Key identifies a stored entity.
type Key struct {
	Database  string
	Namespace string
	// Path is the key path as kind/name pairs, e.g. "KV/v1/K/item";
	// numeric ids are written in decimal.
	Path string
}

// Server is an in-memory Datastore. Use NewServer, then point the client at
// Addr via DATASTORE_EMULATOR_HOST or an endpoint option.
type Server struct {
	pb.UnimplementedDatastoreServer

	// Addr is the server's loopback host:port.
	Addr string
	grpc *grpc.Server

	mu         sync.Mutex
	entities   map[Key]*pb.Entity
	version    int64
	faults     Faults
	rng        *rand.Rand
	commits    []CommitRecord
	violations []string
	txns       map[string]bool
	nextTxn    int
}

// NewServer starts a server on 127.0.0.1 on a free port. Close stops it.
func NewServer() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:     lis.Addr().String(),
		grpc:     grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20)), // let oversized commits reach the limit check
		entities: map[Key]*pb.Entity{},
		txns:     map[string]bool{},
		rng:      rand.New(rand.NewPCG(0, 0)),
	}
	pb.RegisterDatastoreServer(s.grpc, s)
	go s.grpc.Serve(lis) //nolint:errcheck // Serve returns when Close stops the server.
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.grpc.Stop() }

// SetFaults replaces the fault configuration and reseeds the RNG.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Commits returns a record of every Commit call so far.
func (s *Server) Commits() []CommitRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commits)
}

// Violations returns the Commits that broke Datastore's limits.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Snapshot returns a copy of every stored entity.
func (s *Server) Snapshot() map[Key]*pb.Entity {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Key]*pb.Entity, len(s.entities))
	for k, e := range s.entities {
		out[k] = proto.Clone(e).(*pb.Entity)
	}
	return out
}

// BeginTransaction starts a transaction. Transactions are serialised by the
// server lock at commit, without conflict detection.
func (s *Server) BeginTransaction(_ context.Context, req *pb.BeginTransactionRequest) (*pb.BeginTransactionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &pb.BeginTransactionResponse{Transaction: s.newTxnLocked()}, nil
}

func (s *Server) newTxnLocked() []byte {
	s.nextTxn++
	id := "txn-" + strconv.Itoa(s.nextTxn)
	s.txns[id] = true
	return []byte(id)
}

// Rollback ends a transaction without applying it.
func (s *Server) Rollback(_ context.Context, req *pb.RollbackRequest) (*pb.RollbackResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.txns, string(req.GetTransaction()))
	return &pb.RollbackResponse{}, nil
}

// Commit validates and applies mutations, after any injected fault.
func (s *Server) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	s.mu.Lock()
	latency := s.faults.Latency
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	rec := CommitRecord{
		Mutations:     len(req.GetMutations()),
		Bytes:         proto.Size(req),
		Transactional: req.GetMode() == pb.CommitRequest_TRANSACTIONAL,
	}
	resp, err := s.commitLocked(req, rec)
	rec.Code = status.Code(err)
	s.commits = append(s.commits, rec)
	return resp, err
}

func (s *Server) commitLocked(req *pb.CommitRequest, rec CommitRecord) (*pb.CommitResponse, error) {
	if err := s.checkLimitsLocked(req, rec); err != nil {
		return nil, err
	}
	id := string(req.GetTransaction())
	if rec.Transactional && !s.txns[id] {
		return nil, status.Errorf(codes.InvalidArgument, "unknown transaction %q", id)
	}
	resp, err := s.faultLocked(req)
	if resp != nil && rec.Transactional {
		delete(s.txns, id) // applied; a failed commit may be retried
	}
	return resp, err
}

// faultLocked applies req unless a fault is injected. It returns a response
// whenever req was applied, even with an error.
func (s *Server) faultLocked(req *pb.CommitRequest) (*pb.CommitResponse, error) {
	f := s.faults
	if f.FailOnCommit > 0 && len(s.commits)+1 == f.FailOnCommit {
		return nil, status.Errorf(codes.InvalidArgument, "injected failure of commit %d", f.FailOnCommit)
	}
	if f.FailForKey != "" {
		for _, m := range req.GetMutations() {
			if k := mutationKey(m); k != nil && lastName(k) == f.FailForKey {
				return nil, status.Errorf(codes.InvalidArgument, "injected failure for key %q", f.FailForKey)
			}
		}
	}
	if f.FailRate > 0 && len(f.FailCodes) > 0 && s.rng.Float64() < f.FailRate {
		code := f.FailCodes[s.rng.IntN(len(f.FailCodes))]
		var applied *pb.CommitResponse
		if code == codes.DeadlineExceeded && s.rng.IntN(2) == 0 {
			applied = s.applyLocked(req)
		}
		return applied, status.Errorf(code, "injected %v", code)
	}
	return s.applyLocked(req), nil
}

// checkLimitsLocked rejects what Datastore rejects; limit breaches are also
// recorded as violations so tests can assert there were none.
func (s *Server) checkLimitsLocked(req *pb.CommitRequest, rec CommitRecord) error {
	violate := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		s.violations = append(s.violations, msg)
		return status.Error(codes.InvalidArgument, msg)
	}
	if rec.Mutations > MaxMutations {
		return violate("commit has %d mutations, limit %d", rec.Mutations, MaxMutations)
	}
	if rec.Bytes > MaxCommitBytes {
		return violate("commit is %d bytes, limit %d", rec.Bytes, MaxCommitBytes)
	}
	seen := map[Key]bool{}
	for _, m := range req.GetMutations() {
		if m.GetInsert() != nil || m.GetUpdate() != nil {
			return status.Error(codes.Unimplemented, "only upsert and delete mutations are supported")
		}
		k := mutationKey(m)
		if len(k.GetPath()) == 0 {
			return status.Error(codes.InvalidArgument, "mutation without key")
		}
		sk := storeKey(req.GetDatabaseId(), k)
		if seen[sk] {
			return violate("commit mutates %s twice", sk.Path)
		}
		seen[sk] = true
		for _, el := range k.GetPath() {
			if el.GetName() == "" && el.GetId() == 0 {
				return status.Error(codes.Unimplemented, "incomplete keys are not supported")
			}
			if n := len(el.GetName()); n > MaxKeyNameBytes {
				return status.Errorf(codes.InvalidArgument, "key name of %d bytes, limit %d", n, MaxKeyNameBytes)
			}
		}
		if e := entityOf(m); e != nil {
			if n := proto.Size(e); n > MaxEntityBytes {
				return violate("entity %s is %d bytes, limit %d", sk.Path, n, MaxEntityBytes)
			}
		}
	}
	return nil
}

func (s *Server) applyLocked(req *pb.CommitRequest) *pb.CommitResponse {
	s.version++
	resp := &pb.CommitResponse{}
	for _, m := range req.GetMutations() {
		k := storeKey(req.GetDatabaseId(), mutationKey(m))
		if e := entityOf(m); e != nil {
			s.entities[k] = proto.Clone(e).(*pb.Entity)
		} else {
			delete(s.entities, k)
		}
		resp.MutationResults = append(resp.MutationResults, &pb.MutationResult{Version: s.version})
	}
	return resp
}

// Lookup returns the entities found and the keys missing.
func (s *Server) Lookup(_ context.Context, req *pb.LookupRequest) (*pb.LookupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &pb.LookupResponse{}
	if req.GetReadOptions().GetNewTransaction() != nil {
		resp.Transaction = s.newTxnLocked()
	}
	for _, k := range req.GetKeys() {
		if e, ok := s.entities[storeKey(req.GetDatabaseId(), k)]; ok {
			resp.Found = append(resp.Found, &pb.EntityResult{Entity: proto.Clone(e).(*pb.Entity), Version: s.version})
		} else {
			resp.Missing = append(resp.Missing, &pb.EntityResult{Entity: &pb.Entity{Key: k}, Version: s.version})
		}
	}
	return resp, nil
}

// RunQuery runs a kind query in key order, in pages with cursors.
func (s *Server) RunQuery(_ context.Context, req *pb.RunQueryRequest) (*pb.RunQueryResponse, error) {
	q := req.GetQuery()
	if q == nil {
		return nil, status.Error(codes.Unimplemented, "only structured queries are supported")
	}
	if len(q.GetKind()) > 1 || len(q.GetOrder()) > 0 || len(q.GetDistinctOn()) > 0 || q.GetOffset() > 0 || len(q.GetEndCursor()) > 0 {
		return nil, status.Error(codes.Unimplemented, "only single-kind, key-ordered queries without offset or end cursor are supported")
	}
	keysOnly := false
	for _, p := range q.GetProjection() {
		if p.GetProperty().GetName() != "__key__" {
			return nil, status.Error(codes.Unimplemented, "only __key__ projections are supported")
		}
		keysOnly = true
	}
	db, ns := req.GetDatabaseId(), req.GetPartitionId().GetNamespaceId()

	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []Key
	for k, e := range s.entities {
		if k.Database != db || k.Namespace != ns {
			continue
		}
		path := e.GetKey().GetPath()
		if len(q.GetKind()) == 1 && path[len(path)-1].GetKind() != q.GetKind()[0].GetName() {
			continue
		}
		ok, err := matches(q.GetFilter(), db, e)
		if err != nil {
			return nil, err
		}
		if ok && k.Path > string(q.GetStartCursor()) {
			matched = append(matched, k)
		}
	}
	slices.SortFunc(matched, func(a, b Key) int { return strings.Compare(a.Path, b.Path) })

	limit := pageSize
	if l := q.GetLimit(); l != nil && int(l.GetValue()) < limit {
		limit = int(l.GetValue())
	}
	batch := &pb.QueryResultBatch{EntityResultType: pb.EntityResult_FULL, MoreResults: pb.QueryResultBatch_NO_MORE_RESULTS, SnapshotVersion: s.version}
	if keysOnly {
		batch.EntityResultType = pb.EntityResult_KEY_ONLY
	}
	if len(matched) > limit {
		matched = matched[:limit]
		batch.MoreResults = pb.QueryResultBatch_NOT_FINISHED
		if q.GetLimit() != nil {
			batch.MoreResults = pb.QueryResultBatch_MORE_RESULTS_AFTER_LIMIT
		}
	}
	for _, k := range matched {
		e := s.entities[k]
		if keysOnly {
			e = &pb.Entity{Key: e.GetKey()}
		}
		batch.EntityResults = append(batch.EntityResults, &pb.EntityResult{Entity: proto.Clone(e).(*pb.Entity), Cursor: []byte(k.Path), Version: s.version})
	}
	batch.EndCursor = q.GetStartCursor()
	if len(matched) > 0 {
		batch.EndCursor = []byte(matched[len(matched)-1].Path)
	}
	return &pb.RunQueryResponse{Batch: batch, Query: q}, nil
}

// matches evaluates AND filters of __key__ HAS_ANCESTOR and property EQUAL.
func matches(f *pb.Filter, db string, e *pb.Entity) (bool, error) {
	switch {
	case f == nil:
		return true, nil
	case f.GetCompositeFilter() != nil:
		cf := f.GetCompositeFilter()
		if cf.GetOp() != pb.CompositeFilter_AND {
			return false, status.Error(codes.Unimplemented, "only AND composite filters are supported")
		}
		for _, sub := range cf.GetFilters() {
			if ok, err := matches(sub, db, e); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	}
	pf := f.GetPropertyFilter()
	name := pf.GetProperty().GetName()
	switch {
	case name == "__key__" && pf.GetOp() == pb.PropertyFilter_HAS_ANCESTOR:
		return hasAncestor(e.GetKey(), pf.GetValue().GetKeyValue()), nil
	case name != "__key__" && pf.GetOp() == pb.PropertyFilter_EQUAL:
		v, ok := e.GetProperties()[name]
		return ok && proto.Equal(stripIndexing(v), stripIndexing(pf.GetValue())), nil
	}
	return false, status.Errorf(codes.Unimplemented, "filter %v on %q is not supported", pf.GetOp(), name)
}

// hasAncestor reports whether anc's path is a prefix of k's path (a key is
// its own ancestor, as in Datastore).
func hasAncestor(k, anc *pb.Key) bool {
	kp, ap := k.GetPath(), anc.GetPath()
	if len(ap) > len(kp) || k.GetPartitionId().GetNamespaceId() != anc.GetPartitionId().GetNamespaceId() {
		return false
	}
	for i, el := range ap {
		if !proto.Equal(el, kp[i]) {
			return false
		}
	}
	return true
}

func stripIndexing(v *pb.Value) *pb.Value {
	c := proto.Clone(v).(*pb.Value)
	c.ExcludeFromIndexes = false
	return c
}

func mutationKey(m *pb.Mutation) *pb.Key {
	if d := m.GetDelete(); d != nil {
		return d
	}
	return entityOf(m).GetKey()
}

func entityOf(m *pb.Mutation) *pb.Entity { return m.GetUpsert() }

func lastName(k *pb.Key) string {
	p := k.GetPath()
	return p[len(p)-1].GetName()
}

func storeKey(db string, k *pb.Key) Key {
	parts := make([]string, 0, 2*len(k.GetPath()))
	for _, el := range k.GetPath() {
		id := el.GetName()
		if id == "" {
			id = strconv.FormatInt(el.GetId(), 10)
		}
		parts = append(parts, el.GetKind(), id)
	}
	return Key{Database: db, Namespace: k.GetPartitionId().GetNamespaceId(), Path: strings.Join(parts, "/")}
}
