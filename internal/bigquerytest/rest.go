package bigquerytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/grpc/codes"
)

// queryResult is what a query job for one SQL text produces: a table, or a
// job error.
type queryResult struct {
	table Table
	err   *bq.ErrorProto
}

// jobState is a query job the REST fake ran.
type jobState struct {
	job   *bq.Job
	polls int
	table Table
}

// AddQuery makes query jobs whose SQL is exactly sql write t to a new
// anonymous table "PROJECT._anon.anonN" of the job's project, which the
// Storage Read API then serves.
func (s *Server) AddQuery(sql string, t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[sql] = queryResult{table: t}
}

// FailQuery makes query jobs whose SQL is exactly sql fail with the given
// BigQuery error reason (invalidQuery, accessDenied, notFound...) and message.
func (s *Server) FailQuery(sql, reason, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries[sql] = queryResult{err: &bq.ErrorProto{Reason: reason, Message: message}}
}

// Jobs returns the jobs.insert request bodies received so far.
func (s *Server) Jobs() []*bq.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*bq.Job(nil), s.inserted...)
}

// restHandler serves the REST calls cloud.google.com/go/bigquery makes to
// run a query job and wait for it (Query.Run, Job.Wait, JobFromProject) and
// to read table metadata (Table.Metadata), under the /bigquery/v2/ base path.
func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	const base = "/bigquery/v2/projects/{project}"
	mux.HandleFunc("POST "+base+"/jobs", s.insertJob)
	mux.HandleFunc("GET "+base+"/jobs/{job}", s.getJob)
	mux.HandleFunc("GET "+base+"/queries/{job}", s.getQueryResults)
	mux.HandleFunc("GET "+base+"/datasets/{dataset}/tables/{table}", s.getTable)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotImplemented, "notImplemented", fmt.Sprintf("bigquerytest does not serve %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) insertJob(w http.ResponseWriter, r *http.Request) {
	var job bq.Job
	if err := json.NewDecoder(r.Body).Decode(&job); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if job.Configuration == nil || job.Configuration.Query == nil {
		writeError(w, http.StatusBadRequest, "invalid", "bigquerytest runs query jobs only")
		return
	}
	q := job.Configuration.Query
	project := r.PathValue("project")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inserted = append(s.inserted, &job)
	res, ok := s.queries[q.Query]
	if !ok {
		res.err = &bq.ErrorProto{Reason: "invalidQuery", Message: fmt.Sprintf("bigquerytest has no result for query %q", q.Query)}
	}
	s.nextID++
	if job.JobReference == nil {
		job.JobReference = &bq.JobReference{}
	}
	ref := *job.JobReference
	ref.ProjectId, ref.Location = project, "US"
	if ref.JobId == "" {
		ref.JobId = "job_" + strconv.Itoa(s.nextID)
	}
	conf := *job.Configuration
	query := *q
	if res.err == nil {
		id := fmt.Sprintf("%s._anon.anon%d", project, s.nextID)
		s.tables[id] = res.table
		query.DestinationTable = &bq.TableReference{ProjectId: project, DatasetId: "_anon", TableId: "anon" + strconv.Itoa(s.nextID)}
	}
	conf.Query = &query
	st := &jobState{
		job: &bq.Job{
			Id:            project + ":US." + ref.JobId,
			JobReference:  &ref,
			Configuration: &conf,
			Status:        &bq.JobStatus{State: "DONE", ErrorResult: res.err},
			Statistics:    &bq.JobStatistics{Query: &bq.JobStatistics2{StatementType: "SELECT"}},
		},
		table: res.table,
	}
	if res.err != nil {
		st.job.Status.Errors = []*bq.ErrorProto{res.err}
	}
	s.jobs[ref.JobId] = st
	// The insert answers while the job still runs, so clients must wait.
	running := *st.job
	running.Status = &bq.JobStatus{State: "RUNNING"}
	writeJSON(w, &running)
}

func (s *Server) job(w http.ResponseWriter, r *http.Request) *jobState {
	st := s.jobs[r.PathValue("job")]
	if st == nil || st.job.JobReference.ProjectId != r.PathValue("project") {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Job %s:%s", r.PathValue("project"), r.PathValue("job")))
		return nil
	}
	return st
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.job(w, r); st != nil {
		writeJSON(w, st.job)
	}
}

func (s *Server) getQueryResults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.job(w, r)
	if st == nil {
		return
	}
	st.polls++
	if st.polls == 1 { // not done at the first poll: clients must poll again
		writeJSON(w, &bq.GetQueryResultsResponse{JobReference: st.job.JobReference, JobComplete: false})
		return
	}
	if e := st.job.Status.ErrorResult; e != nil {
		code := http.StatusBadRequest
		switch e.Reason {
		case "accessDenied":
			code = http.StatusForbidden
		case "notFound":
			code = http.StatusNotFound
		}
		writeError(w, code, e.Reason, e.Message)
		return
	}
	writeJSON(w, &bq.GetQueryResultsResponse{
		JobReference: st.job.JobReference,
		JobComplete:  true,
		Schema:       tableSchema(st.table),
		TotalRows:    uint64(len(st.table.Rows)),
	})
}

func (s *Server) getTable(w http.ResponseWriter, r *http.Request) {
	p, d, t := r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table")
	id := p + "." + d + "." + t
	s.mu.Lock()
	defer s.mu.Unlock()
	if code, bad := s.faults[id]; bad {
		status, reason := http.StatusNotFound, "notFound"
		if code == codes.PermissionDenied {
			status, reason = http.StatusForbidden, "accessDenied"
		}
		writeError(w, status, reason, tableMessage(code, id))
		return
	}
	tab, ok := s.tables[id]
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", tableMessage(codes.NotFound, id))
		return
	}
	writeJSON(w, &bq.Table{
		Id:               p + ":" + d + "." + t,
		TableReference:   &bq.TableReference{ProjectId: p, DatasetId: d, TableId: t},
		Schema:           tableSchema(tab),
		NumRows:          uint64(len(tab.Rows)),
		Type:             "TABLE",
		Location:         "US",
		CreationTime:     1,
		LastModifiedTime: 1,
	})
}

// legacyType is the type name the REST API reports for a column.
var legacyType = map[string]string{"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}

func tableSchema(t Table) *bq.TableSchema {
	ts := &bq.TableSchema{}
	for _, c := range t.Columns {
		typ := strings.ToUpper(c.Type)
		if l, ok := legacyType[typ]; ok {
			typ = l
		}
		ts.Fields = append(ts.Fields, &bq.TableFieldSchema{Name: c.Name, Type: typ, Mode: "NULLABLE"})
	}
	return ts
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeError answers as Google APIs do, so googleapi.Error carries the
// reason and message.
func writeError(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"errors":  []map[string]string{{"reason": reason, "message": message}},
	}})
}
