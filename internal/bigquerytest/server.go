package bigquerytest

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery/storage/apiv1/storagepb"
	"github.com/apache/arrow/go/v15/arrow"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Server is an in-process BigQuery: the Storage Read API over gRPC at Addr
// and the jobs and tables REST API at URL. Tables are addressed as
// "project.dataset.table". Set the exported fields before the first call.
type Server struct {
	// Addr is the gRPC endpoint, host:port on loopback, with plain text.
	Addr string
	// URL is the REST endpoint, http://host:port on loopback.
	URL string
	// BatchRows is the most rows a ReadRowsResponse carries (default 1024).
	BatchRows int
	// BatchDelay is how long the server takes to produce each batch of a
	// stream: BigQuery serves each stream at a bounded rate from storage
	// on other machines, which is why reads run many streams at once. 0
	// serves as fast as the CPU allows.
	BatchDelay time.Duration
	// DefaultStreams is how many streams a session gets when the request
	// leaves max_stream_count at 0, "let the service decide" (default 4).
	DefaultStreams int

	mu       sync.Mutex
	tables   map[string]Table
	faults   map[string]codes.Code
	breaks   map[string]Break
	streams  map[string]*stream
	sessions []*storagepb.CreateReadSessionRequest
	reads    []*storagepb.ReadRowsRequest
	served   int64
	queries  map[string]queryResult
	jobs     map[string]*jobState
	inserted []*bq.Job
	nextID   int
}

// Break makes ReadRows calls on a table's streams fail mid-stream: each
// broken call sends AfterRows rows, then ends with Code (default
// UNAVAILABLE). The first Times calls of each stream break; Times < 0
// breaks every call.
type Break struct {
	AfterRows int        // rows a broken call sends before it fails
	Times     int        // broken calls per stream; < 0 for every call
	Code      codes.Code // the status code (default UNAVAILABLE)
	Message   string     // the status message
}

// stream is one read stream of a session, its rows already encoded.
type stream struct {
	table   string
	schema  int // length of the serialized schema, to strip from batches
	batches []batch
	rows    int64
	calls   int
}

type batch struct {
	start int64
	rec   arrow.Record
	data  []byte
}

// New starts a Server whose listeners close when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		tables:  map[string]Table{},
		faults:  map[string]codes.Code{},
		breaks:  map[string]Break{},
		streams: map[string]*stream{},
		queries: map[string]queryResult{},
		jobs:    map[string]*jobState{},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("bigquerytest: listen: %v", err)
	}
	gs := grpc.NewServer()
	storagepb.RegisterBigQueryReadServer(gs, &readServer{s: s})
	go gs.Serve(lis)
	hs := httptest.NewServer(s.restHandler())
	s.Addr, s.URL = lis.Addr().String(), hs.URL
	tb.Cleanup(func() {
		gs.Stop()
		hs.Close()
	})
	return s
}

// AddTable serves a table under id "project.dataset.table", replacing any.
// Sessions already created keep the rows they were created with, as a
// snapshot would.
func (s *Server) AddTable(id string, t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables[id] = t
}

// FailTable makes every call on a table (CreateReadSession, ReadRows,
// tables.get) fail with code, NOT_FOUND or PERMISSION_DENIED as the real
// service words them; codes.OK clears the fault.
func (s *Server) FailTable(id string, code codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == codes.OK {
		delete(s.faults, id)
		return
	}
	s.faults[id] = code
}

// BreakStreams breaks the ReadRows calls on a table's streams as b says.
func (s *Server) BreakStreams(id string, b Break) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Code == codes.OK {
		b.Code = codes.Unavailable
	}
	if b.Message == "" {
		b.Message = "connection reset by peer (injected)"
	}
	s.breaks[id] = b
}

// SessionRequests returns the CreateReadSession requests received so far.
func (s *Server) SessionRequests() []*storagepb.CreateReadSessionRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*storagepb.CreateReadSessionRequest(nil), s.sessions...)
}

// ReadRowsRequests returns the ReadRows requests received so far.
func (s *Server) ReadRowsRequests() []*storagepb.ReadRowsRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*storagepb.ReadRowsRequest(nil), s.reads...)
}

// RowsServed is how many rows ReadRows sent in all, resent rows included.
func (s *Server) RowsServed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// tableMessage words a table fault as BigQuery does, naming the table.
func tableMessage(code codes.Code, id string) string {
	p, rest, _ := strings.Cut(id, ".")
	switch code {
	case codes.NotFound:
		return fmt.Sprintf("Not found: Table %s:%s was not found in location US", p, rest)
	case codes.PermissionDenied:
		return fmt.Sprintf("Access Denied: Table %s:%s: Permission bigquery.tables.getData denied on table %s:%s (or it may not exist).", p, rest, p, rest)
	}
	return fmt.Sprintf("injected %v on table %s", code, id)
}

// tableID turns "projects/p/datasets/d/tables/t" into "p.d.t".
func tableID(path string) (string, bool) {
	parts := strings.Split(path, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "datasets" || parts[4] != "tables" {
		return "", false
	}
	return parts[1] + "." + parts[3] + "." + parts[5], true
}

type readServer struct {
	storagepb.UnimplementedBigQueryReadServer
	s *Server
}

func (r *readServer) CreateReadSession(_ context.Context, req *storagepb.CreateReadSessionRequest) (*storagepb.ReadSession, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = append(s.sessions, proto.Clone(req).(*storagepb.CreateReadSessionRequest))
	billing, ok := strings.CutPrefix(req.GetParent(), "projects/")
	if !ok || billing == "" || strings.Contains(billing, "/") {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q is not projects/PROJECT", req.GetParent())
	}
	rs := req.GetReadSession()
	id, ok := tableID(rs.GetTable())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "read_session.table %q is not projects/P/datasets/D/tables/T", rs.GetTable())
	}
	if code, bad := s.faults[id]; bad {
		return nil, status.Error(code, tableMessage(code, id))
	}
	t, ok := s.tables[id]
	if !ok {
		return nil, status.Error(codes.NotFound, tableMessage(codes.NotFound, id))
	}
	if rs.GetDataFormat() != storagepb.DataFormat_ARROW {
		return nil, status.Errorf(codes.InvalidArgument, "bigquerytest serves ARROW only, not %v", rs.GetDataFormat())
	}
	// Selected fields come back in table order, as the real service does.
	want := map[string]bool{}
	for _, f := range rs.GetReadOptions().GetSelectedFields() {
		want[f] = true
	}
	var cols []Column
	var idx []int
	for i, c := range t.Columns {
		if len(want) == 0 || want[c.Name] {
			cols, idx = append(cols, c), append(idx, i)
			delete(want, c.Name)
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for f := range want {
			missing = append(missing, f)
		}
		sort.Strings(missing)
		return nil, status.Errorf(codes.InvalidArgument, "request failed: the following selected fields do not exist in the table schema: %s", strings.Join(missing, ", "))
	}
	f, err := parseFilter(rs.GetReadOptions().GetRowRestriction(), t.Columns)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var rows [][]any
	for _, row := range t.Rows {
		if f.keep(row) {
			rows = append(rows, row)
		}
	}
	schema, err := schemaOf(cols)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	schemaBytes, err := serializeSchema(schema)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	n := int(req.GetMaxStreamCount())
	if n == 0 {
		if n = s.DefaultStreams; n <= 0 {
			n = 4
		}
	}
	n = min(n, len(rows)) // an empty table has no stream
	batchRows := s.BatchRows
	if batchRows <= 0 {
		batchRows = 1024
	}
	s.nextID++
	name := fmt.Sprintf("projects/%s/locations/us/sessions/s%d", billing, s.nextID)
	out := &storagepb.ReadSession{
		Name:              name,
		ExpireTime:        timestamppb.New(time.Now().Add(6 * time.Hour)),
		DataFormat:        storagepb.DataFormat_ARROW,
		Schema:            &storagepb.ReadSession_ArrowSchema{ArrowSchema: &storagepb.ArrowSchema{SerializedSchema: schemaBytes}},
		Table:             rs.GetTable(),
		TableModifiers:    rs.GetTableModifiers(),
		ReadOptions:       rs.GetReadOptions(),
		EstimatedRowCount: int64(len(rows)),
	}
	for i := 0; i < n; i++ {
		lo, hi := len(rows)*i/n, len(rows)*(i+1)/n
		st := &stream{table: id, schema: len(schemaBytes), rows: int64(hi - lo)}
		for b := lo; b < hi; b += batchRows {
			rec, err := record(schema, rows[b:min(b+batchRows, hi)], idx)
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			data, err := serializeBatch(rec, st.schema)
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			st.batches = append(st.batches, batch{start: int64(b - lo), rec: rec, data: data})
		}
		sn := fmt.Sprintf("%s/streams/%d", name, i)
		s.streams[sn] = st
		out.Streams = append(out.Streams, &storagepb.ReadStream{Name: sn})
	}
	return out, nil
}

func (r *readServer) ReadRows(req *storagepb.ReadRowsRequest, srv storagepb.BigQueryRead_ReadRowsServer) error {
	s := r.s
	s.mu.Lock()
	s.reads = append(s.reads, proto.Clone(req).(*storagepb.ReadRowsRequest))
	st := s.streams[req.GetReadStream()]
	if st == nil {
		s.mu.Unlock()
		return status.Errorf(codes.NotFound, "read stream %s not found (it may have expired)", req.GetReadStream())
	}
	code, fault := s.faults[st.table]
	brk, broken := s.breaks[st.table]
	broken = broken && (brk.Times < 0 || st.calls < brk.Times)
	st.calls++
	s.mu.Unlock()
	if fault {
		return status.Error(code, tableMessage(code, st.table))
	}
	off := req.GetOffset()
	if off < 0 || off > st.rows {
		return status.Errorf(codes.OutOfRange, "offset %d is outside stream %s of %d rows", off, req.GetReadStream(), st.rows)
	}
	limit := int64(-1) // rows this call may send before it breaks
	if broken {
		limit = int64(brk.AfterRows)
	}
	var sent int64
	for off < st.rows && (limit < 0 || sent < limit) {
		i := sort.Search(len(st.batches), func(i int) bool { return st.batches[i].start > off }) - 1
		b := st.batches[i]
		lo, hi := off-b.start, b.rec.NumRows()
		if limit >= 0 {
			hi = min(hi, lo+limit-sent)
		}
		data := b.data
		if lo > 0 || hi < b.rec.NumRows() {
			// A resumed or broken read starts or ends inside a batch.
			part := b.rec.NewSlice(lo, hi)
			var err error
			data, err = serializeBatch(part, st.schema)
			part.Release()
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
		}
		n := hi - lo
		if s.BatchDelay > 0 {
			time.Sleep(s.BatchDelay)
		}
		err := srv.Send(&storagepb.ReadRowsResponse{
			RowCount: n,
			Rows: &storagepb.ReadRowsResponse_ArrowRecordBatch{
				ArrowRecordBatch: &storagepb.ArrowRecordBatch{SerializedRecordBatch: data, RowCount: n},
			},
		})
		if err != nil {
			return err
		}
		off, sent = off+n, sent+n
		s.mu.Lock()
		s.served += n
		s.mu.Unlock()
	}
	if off < st.rows {
		return status.Error(brk.Code, brk.Message)
	}
	return nil
}
