package bigqueryio

import (
	"fmt"
	"strings"
)

// Table names a BigQuery table.
type Table struct {
	Project string // project id, possibly domain-scoped (example.com:proj)
	Dataset string // dataset id
	Table   string // table id
}

// ParseTable reads "bq://PROJECT.DATASET.TABLE" (the "bq://" is optional,
// and PROJECT:DATASET.TABLE is accepted too). Project ids may hold a domain
// ("example.com:proj"), so the dataset and table are the last two parts.
func ParseTable(s string) (Table, error) {
	name := strings.TrimPrefix(s, "bq://")
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return Table{}, fmt.Errorf("%q is not bq://PROJECT.DATASET.TABLE", s)
	}
	rest, table := name[:dot], name[dot+1:]
	sep := strings.LastIndexAny(rest, ".:")
	if sep < 0 {
		return Table{}, fmt.Errorf("%q is not bq://PROJECT.DATASET.TABLE", s)
	}
	t := Table{Project: rest[:sep], Dataset: rest[sep+1:], Table: table}
	if t.Project == "" || t.Dataset == "" || t.Table == "" {
		return Table{}, fmt.Errorf("%q is not bq://PROJECT.DATASET.TABLE: a part is empty", s)
	}
	return t, nil
}

// String is the table as bq://PROJECT.DATASET.TABLE, the form dead letters
// name it by.
func (t Table) String() string { return "bq://" + t.Project + "." + t.Dataset + "." + t.Table }

// path is the resource name the Storage Read API takes.
func (t Table) path() string {
	return "projects/" + t.Project + "/datasets/" + t.Dataset + "/tables/" + t.Table
}
