package recommend

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/recsys/itemsim/model"
	"github.com/recsys/itemsim/model/als"
)

// maxLine bounds one JSONL line: a neighbour list of thousands of long ids.
const maxLine = 64 << 20

// ReadNeighbors reads the pipeline's JSONL output, one model.Neighbors per
// line ({"item":"242","neighbors":[{"item":"286","score":0.39},...]}).
// Blank lines are skipped; a malformed line is an error naming its number.
func ReadNeighbors(r io.Reader) ([]model.Neighbors, error) {
	return readJSONL(r, func(n model.Neighbors) string { return n.Item }, "item")
}

// ReadUserLists reads the ALS job's --user_output JSONL, one
// model.UserList per line ({"user":"u","items":[{"item":"i","score":s},...]}),
// as ReadNeighbors reads neighbour lists.
func ReadUserLists(r io.Reader) ([]model.UserList, error) {
	return readJSONL(r, func(u model.UserList) string { return u.User }, "user")
}

// ReadFactors reads an ALS factors JSONL file (--item_factors_output or
// --user_factors_output), one als.FactorRow per line
// ({"id":"i","factor":[0.12,...]}), as ReadNeighbors reads neighbour
// lists.
func ReadFactors(r io.Reader) ([]als.FactorRow, error) {
	return readJSONL(r, func(f als.FactorRow) string { return f.ID }, "id")
}

// readJSONL reads one T per line, skipping blank lines; a malformed line,
// or one whose id is empty (the field named field), is an error naming
// its number.
func readJSONL[T any](r io.Reader, id func(T) string, field string) ([]T, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	var out []T
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if id(v) == "" {
			return nil, fmt.Errorf("line %d: no %s", line, field)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// ReadPopular reads the pipeline's --popular_output document,
// {"items":[{"item":"p100","users":40},...]}, most popular first.
func ReadPopular(r io.Reader) ([]model.PopularItem, error) {
	var doc struct {
		Items []model.PopularItem `json:"items"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc.Items, nil
}

// LoadFiles builds a model from a similarities JSONL file and an optional
// popular file ("" for none).
func LoadFiles(similarities, popular, version string) (*Model, error) {
	lists, err := ReadNeighborsFile(similarities)
	if err != nil {
		return nil, err
	}
	pop, err := ReadPopularFile(popular)
	if err != nil {
		return nil, err
	}
	return Build(lists, pop, version)
}

// ReadNeighborsFile reads a similarities JSONL file with ReadNeighbors.
func ReadNeighborsFile(path string) ([]model.Neighbors, error) {
	return readFile(path, ReadNeighbors)
}

// ReadPopularFile reads a popular file with ReadPopular; "" reads none.
func ReadPopularFile(path string) ([]model.PopularItem, error) {
	if path == "" {
		return nil, nil
	}
	return readFile(path, ReadPopular)
}

func readFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := read(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return v, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}
