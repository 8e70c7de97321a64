// Package dataflow checks the Dataflow Flex Templates of pipelines/similarity,
// pipelines/als and pipelines/realtime (their metadata files, the
// Dockerfile, template.mk)
// against the pipelines' sources. It holds tests only: the templates are
// files for gcloud and Docker.
package dataflow

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	// optionsDir holds the flags the jobs share; a pipeline registers
	// groups of them by calling optionsPkg's Register functions.
	optionsDir = "../../pipelines/options"
	optionsPkg = "github.com/recsys/itemsim/pipelines/options"
)

// flexTemplate is one Flex Template of this directory: the Dockerfile
// built with --build-arg=PIPELINE=pipeline, and its metadata file.
type flexTemplate struct {
	// pipeline is the job's directory under pipelines/, and template.mk's
	// and the Dockerfile's PIPELINE.
	pipeline string
	// metadata is the metadata file, in this directory.
	metadata string
	// values are the good and bad values of the parameters that are the
	// template's alone (sharedValues has the others').
	values map[string]cases
}

// templates are every template; the first is the default of template.mk
// and of the Dockerfile.
var templates = []flexTemplate{
	{"similarity", "metadata.json", similarityValues},
	{"als", "als-metadata.json", alsValues},
	{"realtime", "realtime-metadata.json", realtimeValues},
}

// dir is the pipeline's source directory.
func (ft flexTemplate) dir() string { return "../../pipelines/" + ft.pipeline }

// cases are the test's values of the parameter name, and whether it has any.
func (ft flexTemplate) cases(name string) (cases, bool) {
	if c, ok := ft.values[name]; ok {
		return c, true
	}
	c, ok := sharedValues[name]
	return c, ok
}

// forEachTemplate runs test as a subtest per template.
func forEachTemplate(t *testing.T, test func(t *testing.T, ft flexTemplate)) {
	for _, ft := range templates {
		t.Run(ft.pipeline, func(t *testing.T) { test(t, ft) })
	}
}

// flagDefiners maps each flag package function (and *flag.FlagSet method)
// that defines a flag to the index of its name argument.
var flagDefiners = map[string]int{
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0, "Func": 0, "BoolFunc": 0,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
}

// goPackage is the parsed non-test sources of one package.
type goPackage struct {
	fset   *token.FileSet
	files  []*ast.File
	consts map[string]string        // package-level string constants, for names given by one
	funcs  map[string]*ast.FuncDecl // package-level functions
}

func parsePackage(t *testing.T, dir string) goPackage {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	p := goPackage{fset: token.NewFileSet(), consts: map[string]string{}, funcs: map[string]*ast.FuncDecl{}}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(p.fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, f)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					p.funcs[d.Name.Name] = d
				}
			case *ast.GenDecl:
				if d.Tok != token.CONST {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if v, ok := stringLit(vs.Values[i]); ok {
								p.consts[n.Name] = v
							}
						}
					}
				}
			}
		}
	}
	return p
}

// flagSet collects flag definitions, failing the test on a name it cannot
// read or a flag defined twice.
type flagSet struct {
	t     *testing.T
	where map[string]string // flag name → where it is defined
}

func (s flagSet) add(name, pos string) {
	if prev, dup := s.where[name]; dup {
		s.t.Errorf("flag --%s is defined twice: %s and %s (the binary would panic)", name, prev, pos)
	}
	s.where[name] = pos
}

// name is the string a flag name argument stands for: a literal, a
// constant of p, or (bound non-nil) a parameter bound to a value.
func (p goPackage) name(e ast.Expr, bound map[string]string) (string, bool) {
	if v, ok := stringLit(e); ok {
		return v, true
	}
	id, ok := e.(*ast.Ident)
	if !ok {
		return "", false
	}
	if v, ok := bound[id.Name]; ok {
		return v, true
	}
	v, ok := p.consts[id.Name]
	return v, ok
}

// pipelineFlags returns the name of every flag the pipeline's non-test
// sources (in dir) define, and where: with the flag package's functions or
// flag.CommandLine's methods, and through the options package's Register
// functions, which must be given flag.CommandLine. A flag defined in the
// options package has a position in optionsDir.
func pipelineFlags(t *testing.T, dir string) map[string]string {
	t.Helper()
	pipe, opts := parsePackage(t, dir), parsePackage(t, optionsDir)
	flags := flagSet{t, map[string]string{}}
	for _, f := range pipe.files {
		flagPkg, optPkg := importName(f, "flag"), importName(f, optionsPkg)
		if flagPkg == "" && optPkg == "" {
			continue
		}
		isCommandLine := func(e ast.Expr) bool {
			sel, ok := e.(*ast.SelectorExpr)
			if !ok {
				return false
			}
			x, ok := sel.X.(*ast.Ident)
			return ok && x.Name == flagPkg && sel.Sel.Name == "CommandLine"
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			pos := pipe.fset.Position(call.Pos()).String()
			if pkg, ok := sel.X.(*ast.Ident); ok && optPkg != "" && pkg.Name == optPkg {
				fn := opts.funcs[sel.Sel.Name]
				if fn == nil {
					return true // a method or non-function: defines no flag
				}
				bound, fsArg := bindArgs(t, pipe, fn, call, nil, pos)
				defined := flagSet{t, map[string]string{}}
				opts.registered(fn, bound, defined, pos)
				if len(defined.where) == 0 {
					return true
				}
				if fsArg == nil || !isCommandLine(fsArg) {
					t.Errorf("%s: options.%s is not given flag.CommandLine: cannot check its flags", pos, sel.Sel.Name)
				}
				for name, where := range defined.where {
					flags.add(name, where)
				}
				return true
			}
			arg, defines := flagDefiners[sel.Sel.Name]
			pkg, isPkg := sel.X.(*ast.Ident)
			if !defines || flagPkg == "" || !(isPkg && pkg.Name == flagPkg || isCommandLine(sel.X)) {
				return true
			}
			name, ok := pipe.name(call.Args[arg], nil)
			if !ok {
				t.Errorf("%s: flag.%s's name is not a string literal or constant: cannot check it", pos, sel.Sel.Name)
				return true
			}
			flags.add(name, pos)
			return true
		})
	}
	for _, f := range opts.files {
		if flagPkg := importName(f, "flag"); flagPkg != "" {
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					_, defines := flagDefiners[sel.Sel.Name]
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == flagPkg && (defines || sel.Sel.Name == "CommandLine") {
						t.Errorf("%s: the options package uses flag.%s: it must register only on the FlagSet it is given",
							opts.fset.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
	return flags.where
}

// bindArgs binds fn's string parameters to the values of call's arguments
// (read in caller, whose own parameters are bound in outer) and returns the
// argument given for its *flag.FlagSet parameter, nil if none.
func bindArgs(t *testing.T, caller goPackage, fn *ast.FuncDecl, call *ast.CallExpr, outer map[string]string, pos string) (map[string]string, ast.Expr) {
	t.Helper()
	bound := map[string]string{}
	var fsArg ast.Expr
	i := 0
	for _, field := range fn.Type.Params.List {
		names := field.Names
		if len(names) == 0 {
			names = []*ast.Ident{{Name: "_"}}
		}
		for _, n := range names {
			if i >= len(call.Args) {
				break
			}
			switch {
			case isFlagSetPtr(field.Type):
				fsArg = call.Args[i]
			case isIdent(field.Type, "string"):
				if v, ok := caller.name(call.Args[i], outer); ok {
					bound[n.Name] = v
				} else {
					t.Errorf("%s: argument %s of %s is not a string literal or constant: cannot check the flags it names", pos, n.Name, fn.Name.Name)
				}
			}
			i++
		}
	}
	return bound, fsArg
}

// registered adds the flags fn defines on its *flag.FlagSet parameters,
// itself or through the package's other functions, with its string
// parameters bound to the values in bound.
func (p goPackage) registered(fn *ast.FuncDecl, bound map[string]string, out flagSet, via string) {
	flagSets := map[string]bool{}
	for _, field := range fn.Type.Params.List {
		if isFlagSetPtr(field.Type) {
			for _, n := range field.Names {
				flagSets[n.Name] = true
			}
		}
	}
	if fn.Body == nil || len(flagSets) == 0 {
		return
	}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		pos := p.fset.Position(call.Pos()).String()
		switch fun := call.Fun.(type) {
		case *ast.SelectorExpr: // fs.String("name", ...)
			x, ok := fun.X.(*ast.Ident)
			arg, defines := flagDefiners[fun.Sel.Name]
			if !ok || !flagSets[x.Name] || !defines {
				return true
			}
			name, ok := p.name(call.Args[arg], bound)
			if !ok {
				out.t.Errorf("%s: %s.%s's name is not a string literal, constant or string parameter: cannot check it", pos, x.Name, fun.Sel.Name)
				return true
			}
			out.add(name, pos+", registered by "+via)
		case *ast.Ident: // another Register function of the package
			if callee := p.funcs[fun.Name]; callee != nil && callee != fn {
				inner, _ := bindArgs(out.t, p, callee, call, bound, pos)
				p.registered(callee, inner, out, via)
			}
		}
		return true
	})
}

// isFlagSetPtr reports whether a parameter's type is *flag.FlagSet (the
// options package imports flag under its own name).
func isFlagSetPtr(e ast.Expr) bool {
	star, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && isIdent(sel.X, "flag") && sel.Sel.Name == "FlagSet"
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// importName is the name f refers to the package path by, "" if f does not
// import it.
func importName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return filepath.Base(path)
		}
	}
	return ""
}

// metadata is the Flex Template metadata file, the fields this template
// uses; anything else in the file is an error (a misspelt field would be
// ignored by Dataflow).
type metadata struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Streaming marks a streaming job's template, and SupportsAtLeastOnce
	// one that may run in Dataflow's at-least-once streaming mode.
	Streaming           bool        `json:"streaming"`
	SupportsAtLeastOnce bool        `json:"supportsAtLeastOnce"`
	Parameters          []parameter `json:"parameters"`
}

type parameter struct {
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	HelpText   string   `json:"helpText"`
	IsOptional *bool    `json:"isOptional"`
	Regexes    []string `json:"regexes"`
}

func loadMetadata(t *testing.T, ft flexTemplate) metadata {
	t.Helper()
	b, err := os.ReadFile(ft.metadata)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m metadata
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", ft.metadata, err)
	}
	return m
}

func TestParametersAreThePipelineFlags(t *testing.T) {
	forEachTemplate(t, func(t *testing.T, ft flexTemplate) {
		flags := pipelineFlags(t, ft.dir())
		m := loadMetadata(t, ft)
		params := map[string]bool{}
		for _, p := range m.Parameters {
			if params[p.Name] {
				t.Errorf("parameter %s is listed twice", p.Name)
			}
			params[p.Name] = true
			if _, ok := flags[p.Name]; !ok {
				t.Errorf("parameter %s is not a flag of %s: the binary would fail on it", p.Name, ft.dir())
			}
		}
		for name, pos := range flags {
			if !params[name] {
				t.Errorf("flag --%s (%s) is not a template parameter in %s", name, pos, ft.metadata)
			}
		}
		if m.Name == "" || m.Description == "" {
			t.Errorf("%s needs a name and a description", ft.metadata)
		}
		// The streaming job is idempotent (a rating is a maximum, an update
		// line is rewritten alike), so at-least-once delivery is fine for it.
		if stream := ft.pipeline == "realtime"; m.Streaming != stream || m.SupportsAtLeastOnce != stream {
			t.Errorf("%s: streaming %v, supportsAtLeastOnce %v; want both %v", ft.metadata, m.Streaming, m.SupportsAtLeastOnce, stream)
		}
	})
}

// TestSharedParameters checks that a flag the jobs share (one registration
// in pipelines/options) is the same parameter in every template: the same
// label, optionality and regexes, so a value one template takes the other
// takes too. Help texts may differ where they name the job's outputs.
func TestSharedParameters(t *testing.T) {
	type seen struct {
		template string
		p        parameter
	}
	shared := map[string]seen{} // parameter → its first template's
	counted := 0
	for _, ft := range templates {
		flags := pipelineFlags(t, ft.dir())
		for _, p := range loadMetadata(t, ft).Parameters {
			if !strings.HasPrefix(flags[p.Name], optionsDir+"/") {
				continue // the job's own flag, or not a flag (TestParametersAreThePipelineFlags)
			}
			first, ok := shared[p.Name]
			if !ok {
				shared[p.Name] = seen{ft.metadata, p}
				continue
			}
			counted++
			if p.Label != first.p.Label || !slices.Equal(p.Regexes, first.p.Regexes) ||
				p.IsOptional == nil || first.p.IsOptional == nil || *p.IsOptional != *first.p.IsOptional {
				t.Errorf("%s differs between %s and %s (label, isOptional or regexes):\n%+v\n%+v", p.Name, first.template, ft.metadata, first.p, p)
			}
		}
	}
	if counted == 0 {
		t.Fatal("no parameter of pipelines/options is in two templates: nothing compared")
	}
}

// exampleSep introduces the example value that ends every helpText.
const exampleSep = " Example: "

// cases are accepted and rejected values of a parameter, besides the
// example its helpText ends with.
type cases struct{ good, bad []string }

// sharedValues are the cases of the parameters the templates share (the
// flags of pipelines/options): each is a parameter of one template or more.
var sharedValues = map[string]cases{
	"input": {
		good: []string{"gs://my-bucket/interactions.csv", "gs://b_1.example/a/b/*.jsonl.gz", "bq://my-project.events.interactions", "bq://my-project:events.interactions", "bq://example.com:my-project.events.t-1"},
		bad:  []string{"testdata/interactions.csv", "/data/in.csv", "s3://bucket/in.csv", "gs://bucket", "gs://bucket/", "gs://Bucket/in.csv", "bq://events.interactions", "bq://my-project.events", "gs://b/in.csv extra"},
	},
	"input_query": {
		good: []string{"SELECT user, productSku, type FROM `p.d.t`", "  with x AS (SELECT 1)\nSELECT * FROM x", "(SELECT 1)"},
		bad:  []string{"DROP TABLE p.d.t", "p.d.t", ""},
	},
	"format":       {good: []string{"csv", "tsv"}, bad: []string{"json", "CSV", "parquet", ""}},
	"header":       {good: []string{"true"}, bad: []string{"yes", "1", "True", ""}},
	"user_field":   {good: []string{"user", "0", "user id"}, bad: []string{"", " user", "user "}},
	"item_field":   {good: []string{"productSku"}, bad: []string{"", "\titem"}},
	"action_field": {good: []string{"type"}, bad: []string{""}},
	"score_field":  {good: []string{"score"}, bad: []string{" "}},
	"time_field":   {good: []string{"time"}, bad: []string{""}},
	"weights": {
		good: []string{"1:0.5,2:2,3:6", "view:1", "click: 1e-1 , buy:+2.", "add to cart:.5"},
		bad:  []string{"view=0.5", "view:-1", "view:", ":2", "view:0.5,", "view:abc", "a:b:1", ""},
	},
	"aggregate":          {good: []string{"sum"}, bad: []string{"avg", "SUM", ""}},
	"half_life":          {good: []string{"0", "90m", "1h30m", "1.5h", "500ms"}, bad: []string{"30d", "-1h", "720", "h", ""}},
	"as_of":              {good: []string{"2024-01-01", "2024-01-01T00:00:00.5+02:00", "2024-01-01 10:00:00 UTC", "1704067200.25"}, bad: []string{"yesterday", "2024/01/01", "01-01-2024", "2024-01-01T00:00", ""}},
	"since":              {good: []string{"2024-01-01T00:00:00Z", "-3600", "-720h", "-1h30m", "+2h"}, bad: []string{"last week", "2024-1-1", "-30d", "--1h"}},
	"until":              {good: []string{"2024-07-01", "0h", "24h", "-24h"}, bad: []string{"now", "1e9", "h", "0 h"}},
	"window":             {good: []string{"0", "720h", "48h30m"}, bad: []string{"30d", "-720h", "720", ""}},
	"run_time":           {good: []string{"2026-12-02", "2026-12-02T02:00:00Z", "1796169600"}, bad: []string{"now", "-24h", "2026/12/02"}},
	"window_align":       {good: []string{"0", "24h", "1h"}, bad: []string{"1d", "-24h", "24"}},
	"max_items_per_user": {good: []string{"0", "1000"}, bad: []string{"-1", "1.5", "ten", "007", "1234567890123456789"}},
	"clip_score":         {good: []string{"-1", "0", "2.5", "1e3"}, bad: []string{"-2", "-0.5", "abc", "1,5"}},
	"dead_letter":        {good: []string{"gs://my-bucket/dead.jsonl"}, bad: []string{"/tmp/dead.jsonl", "dead.jsonl", "gs://b"}},
	"max_bad_fraction":   {good: []string{"0", "0.01", "1", "1.0", ".5"}, bad: []string{"1.5", "-0.1", "2", "5%", ""}},
	"seed":               {good: []string{"0", "42", "9223372036854775807"}, bad: []string{"-1", "4.2", "42x", "18446744073709551616"}},
	"top_n":              {good: []string{"1", "20"}, bad: []string{"0", "-5", "20.5", "abc", "1000000000"}},
	"min_similarity":     {good: []string{"0", "0.3", "-1", "1"}, bad: []string{"1.5", "-1.5", "NaN", "abc"}},
	"output":             {good: []string{"gs://my-bucket/out/neighbors.jsonl"}, bad: []string{"out/neighbors.jsonl", "/tmp/n.jsonl", "gs://my-bucket", "bq://p.d.t"}},
	"shards":             {good: []string{"1", "256", "4096"}, bad: []string{"0", "-1", "2e3", "1_000"}},
	"popular_output":     {good: []string{"gs://my-bucket/popular.json"}, bad: []string{"popular.json", "gs://my-bucket"}},
	"popular_n":          {good: []string{"1", "100"}, bad: []string{"0", "-1", "ten"}},
	"manifest_output":    {good: []string{"gs://my-bucket/m.json"}, bad: []string{"m.json", "gs://my-bucket"}},
	"bq_streams":         {good: []string{"0", "8"}, bad: []string{"-1", "many", "1000000"}},
	"bq_row_filter":      {good: []string{"event_date >= '2024-01-01'", "type IN (1, 2)"}, bad: []string{"1=1; DROP TABLE x", "", "  "}},
	"bq_project":         {good: []string{"my-project", "example.com:my-project"}, bad: []string{"My Project", "1project", "ab", "my-project-"}},
	"bq_endpoint":        {good: []string{"http://127.0.0.1:9050", "https://bigquery.googleapis.com/bigquery/v2/"}, bad: []string{"127.0.0.1:9050", "ftp://host", "https://"}},
	"bq_storage_endpoint": {
		good: []string{"127.0.0.1:9060", "[::1]:9060"},
		bad:  []string{"https://bigquerystorage.googleapis.com", "host", "host:port", ""},
	},
	"datastore_project":       {good: []string{"my-project"}, bad: []string{"", "my_project", "p"}},
	"datastore_database":      {good: []string{"recs-2024"}, bad: []string{"(default)", "My_DB", "1db", "db-"}},
	"datastore_namespace":     {good: []string{"_", "_tenant.a", "a-b_c.d"}, bad: []string{"__system", "has space", "a/b", ""}},
	"datastore_kind":          {good: []string{"ItemSimilarity", "item_similarity.v2"}, bad: []string{"__kind__", "_Kind", "has space", ""}},
	"datastore_layout":        {good: []string{"versioned"}, bad: []string{"in-place", "Versioned", ""}},
	"run_id":                  {good: []string{"v1", "2024-07-01.a_b"}, bad: []string{"", "__v__", "_v", "v 1", "a/b"}},
	"datastore_keep_versions": {good: []string{"1", "2"}, bad: []string{"0", "-1", "two"}},
	"datastore_ramp_up":       {good: []string{"false"}, bad: []string{"on", "0", ""}},
}

// similarityValues are the cases of the similarity template's own parameters.
var similarityValues = map[string]cases{
	"threshold":         {good: []string{"0", "0.5", "1"}, bad: []string{"1.5", "-0.1", "1.01", "0,5", "NaN"}},
	"measure":           {good: []string{"cosine", "jaccard", "llr", "lift", "cooccurrence", "rp3beta", "corating"}, bad: []string{"pearson", "LLR", "", "cosine "}},
	"user_weighting":    {good: []string{"none", "idf", "bm25"}, bad: []string{"tfidf", "BM25", ""}},
	"bm25_k1":           {good: []string{"100", "1.2", ".5", "1e3"}, bad: []string{"-1", "abc", "1,2", ""}},
	"bm25_b":            {good: []string{"0", "0.75", "1"}, bad: []string{"1.5", "-0.1", "abc"}},
	"asymmetric_alpha":  {good: []string{"0", "0.5", "0.8", "1"}, bad: []string{"1.5", "-0.1", "NaN"}},
	"rp3_beta":          {good: []string{"0", "0.5", "1.25", "2", ".6"}, bad: []string{"2.5", "-0.1", "3", "abc"}},
	"shrinkage":         {good: []string{"0", "20", "2.5"}, bad: []string{"-1", "ten", "NaN"}},
	"sum_goroutines":    {good: []string{"0", "1", "16"}, bad: []string{"-1", "1.5", "01"}},
	"max_pending_pairs": {good: []string{"0", "4000000"}, bad: []string{"-1", "4e6", "4_000_000"}},
}

// alsValues are the cases of the ALS template's own parameters.
var alsValues = map[string]cases{
	"implicit":            {good: []string{"true", "false"}, bad: []string{"yes", "1", "True", "t", ""}},
	"rank":                {good: []string{"1", "8", "64", "999", "1000", "1019", "1024"}, bad: []string{"0", "-1", "1025", "1030", "2000", "8.0", "064", "rank", ""}},
	"lambda":              {good: []string{"0", "0.1", ".05", "2.", "1e-3", "5E2"}, bad: []string{"-0.1", "abc", "1,5", "NaN", "Inf", "1e400", ""}},
	"alpha":               {good: []string{"0", "1", "40", "0.5"}, bad: []string{"-1", "+1", "40x", ""}},
	"iterations":          {good: []string{"1", "10", "999"}, bad: []string{"0", "-1", "1.5", "1000", "ten", "010", ""}},
	"blocks":              {good: []string{"0", "1", "16", "999", "1000", "3999", "4089", "4096"}, bad: []string{"-1", "4097", "4100", "5000", "1.5", "016", ""}},
	"validation_fraction": {good: []string{"0", "0.1", ".25", "0.999"}, bad: []string{"1", "1.0", "-0.1", "0.", "abc", ""}},
	"user_output":         {good: []string{"gs://my-bucket/als/users.jsonl"}, bad: []string{"users.jsonl", "/tmp/users.jsonl", "gs://my-bucket"}},
	"user_top_n":          {good: []string{"1", "20", "500"}, bad: []string{"0", "-5", "20.5", "abc", "1000000000"}},
	"item_factors_output": {good: []string{"gs://my-bucket/als/item_factors.jsonl"}, bad: []string{"item_factors.jsonl", "gs://my-bucket/", "bq://p.d.t"}},
	"user_factors_output": {good: []string{"gs://my-bucket/als/user_factors.jsonl"}, bad: []string{"user_factors.jsonl", "gs://b"}},
}

// realtimeValues are the cases of the streaming template's own parameters.
var realtimeValues = map[string]cases{
	"output":                   {good: []string{"gs://my-bucket/realtime/updates"}, bad: []string{"updates", "/tmp/updates", "gs://my-bucket"}},
	"dead_letter":              {good: []string{"gs://my-bucket/realtime/dead"}, bad: []string{"dead", "gs://b"}},
	"window":                   {good: []string{"720h", "48h30m", "1h"}, bad: []string{"0", "30d", "-720h", "720", ""}},
	"slice":                    {good: []string{"24h", "1m"}, bad: []string{"1d", "-1h", ""}},
	"emit_interval":            {good: []string{"1s", "5s", "1m"}, bad: []string{"1", "-1s", "s", ""}},
	"allowed_lateness":         {good: []string{"0", "10m", "1h"}, bad: []string{"-1m", "10", "m"}},
	"hot_window":               {good: []string{"0", "24h", "1m"}, bad: []string{"1d", "-1h", ""}},
	"hot_n":                    {good: []string{"0", "20", "500"}, bad: []string{"-1", "020", "1.5", "ten"}},
	"hot_output":               {good: []string{"gs://my-bucket/realtime/hot"}, bad: []string{"hot", "gs://b"}},
	"recent_n":                 {good: []string{"0", "10", "1000"}, bad: []string{"-1", "010", "1.5", "10000"}},
	"recent_output":            {good: []string{"gs://my-bucket/realtime/recent"}, bad: []string{"recent", "gs://b"}},
	"datastore_live_tolerance": {good: []string{"0", "0.02", ".5"}, bad: []string{"1", "-0.1", "0.", "2e-2", ""}},
	"prune_delta":              {good: []string{"0", "0.05", ".01", "0.000001"}, bad: []string{"1", "1.0", "-0.1", "0.", "5e-2", ""}},
	"user_shards":              {good: []string{"1", "16", "4096"}, bad: []string{"0", "-1", "016", "1.5"}},
	"item_shards":              {good: []string{"1", "64"}, bad: []string{"0", "many"}},
	"kafka_brokers":            {good: []string{"localhost:9092", "kafka-1.internal:9092,10.0.0.2:9093", "[::1]:9092"}, bad: []string{"localhost", "a:b", "host:9092,", ""}},
	"kafka_topic":              {good: []string{"interactions", "events.v2_a-b"}, bad: []string{"", "has space", "a/b"}},
	"kafka_start":              {good: []string{"window", "earliest", "latest", "1700000000", "2024-01-01", "2024-01-01T10:00:00Z"}, bad: []string{"now", "yesterday", "2024/01/01", ""}},
	"kafka_stop_at_end":        {good: []string{"true", "false"}, bad: []string{"yes", "1", ""}},
	"kafka_idle_lag":           {good: []string{"0", "1s", "500ms"}, bad: []string{"-1s", "1", ""}},
	"pubsub_subscription":      {good: []string{"projects/my-project/subscriptions/interactions"}, bad: []string{"interactions", "projects/my-project/topics/t", "projects/p/subscriptions/s", ""}},
	"pubsub_readers":           {good: []string{"1", "16"}, bad: []string{"0", "-1", "four"}},
	"pubsub_lag":               {good: []string{"1s", "10s"}, bad: []string{"0", "1", "-1s"}},
	"pubsub_seek":              {good: []string{"window", "1700000000", "2024-01-01T10:00:00Z"}, bad: []string{"earliest", "now", ""}},
	"pubsub_stop_when_idle":    {good: []string{"true", "false"}, bad: []string{"no", ""}},
}

// javaOnlyGo are Go regexp constructs that Java's Pattern (which Dataflow
// checks parameters with) reads differently or rejects.
var javaOnlyGo = []struct{ construct, why string }{
	{"(?P<", "Go-only named group syntax"},
	{"[[:", "POSIX classes are \\p{...} in Java"},
	{`\z`, "Java's \\z differs; anchor with $"},
	{`\Q`, "quoting differs"},
	{"(?U)", "ungreedy flag is Go-only"},
	{`\pL`, "one-letter Unicode classes: write \\p{L}"},
}

func TestParameters(t *testing.T) {
	forEachTemplate(t, testParameters)
}

// testParameters checks each parameter of ft: its fields, and that its
// regexes are Java-safe, anchored, and accept the example and the good
// values of the test's table and reject its bad ones.
func testParameters(t *testing.T, ft flexTemplate) {
	m := loadMetadata(t, ft)
	seen := map[string]bool{}
	for _, p := range m.Parameters {
		seen[p.Name] = true
		t.Run(p.Name, func(t *testing.T) {
			if p.Label == "" || p.HelpText == "" || p.IsOptional == nil {
				t.Fatalf("%s needs a label, a helpText and isOptional: %+v", p.Name, p)
			}
			// The streaming job may write to Datastore alone; it checks that
			// output or datastore_project is set.
			if wantOptional := p.Name != "output" || ft.pipeline == "realtime"; *p.IsOptional != wantOptional {
				t.Errorf("isOptional = %v, want %v (only output is always required, but by the streaming job; input or input_query is checked by the pipeline)", *p.IsOptional, wantOptional)
			}
			_, example, ok := strings.Cut(p.HelpText, exampleSep)
			if !ok || example == "" {
				t.Fatalf("helpText %q does not end with%q<value>", p.HelpText, exampleSep)
			}
			if len(p.Regexes) == 0 {
				t.Fatal("no regexes: bad values would reach the pipeline")
			}
			var res []*regexp.Regexp
			for _, r := range p.Regexes {
				for _, c := range javaOnlyGo {
					if strings.Contains(r, c.construct) {
						t.Errorf("regex %q uses %s: %s", r, c.construct, c.why)
					}
				}
				re, err := regexp.Compile(r)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(strings.TrimPrefix(r, "(?i)"), "^") || !strings.HasSuffix(r, "$") {
					t.Errorf("regex %q is not anchored with ^...$ (Go matches substrings, Java whole values)", r)
				}
				res = append(res, re)
			}
			// Dataflow accepts a value that matches any of the regexes.
			matches := func(v string) bool {
				return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(v) })
			}
			cases, ok := ft.cases(p.Name)
			if !ok || len(cases.bad) == 0 {
				t.Fatalf("no bad values for %s in the test's table", p.Name)
			}
			for _, v := range append([]string{example}, cases.good...) {
				if !matches(v) {
					t.Errorf("rejects %q", v)
				}
			}
			for _, v := range cases.bad {
				if matches(v) {
					t.Errorf("accepts %q", v)
				}
			}
		})
	}
	for name := range ft.values {
		if !seen[name] {
			t.Errorf("the test's table has values for %s, which is not a parameter of %s", name, ft.metadata)
		}
	}
}

// TestSharedValuesAreParameters: every entry of sharedValues is a
// parameter of some template (the streaming template has fewer of them).
func TestSharedValuesAreParameters(t *testing.T) {
	params := map[string]bool{}
	for _, ft := range templates {
		for _, p := range loadMetadata(t, ft).Parameters {
			params[p.Name] = true
		}
	}
	for name := range sharedValues {
		if !params[name] {
			t.Errorf("sharedValues has values for %s, which is no template's parameter", name)
		}
	}
}

// TestValuesParse checks that each pipeline's flags take every value its
// template's regexes are tested to accept, the examples and the good
// values: a value Dataflow lets through must not fail the launcher's flag
// parsing. (What the flags mean together is the pipeline's own check.)
func TestValuesParse(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the pipelines")
	}
	forEachTemplate(t, func(t *testing.T, ft flexTemplate) {
		bin := filepath.Join(t.TempDir(), ft.pipeline)
		build := exec.Command(goTool, "build", "-o", bin, "./pipelines/"+ft.pipeline)
		build.Dir = "../.."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./pipelines/%s: %v\n%s", ft.pipeline, err, out)
		}
		var args []string
		for _, p := range loadMetadata(t, ft).Parameters {
			_, example, _ := strings.Cut(p.HelpText, exampleSep)
			c, _ := ft.cases(p.Name)
			for _, v := range append([]string{example}, c.good...) {
				args = append(args, "--"+p.Name+"="+v)
			}
		}
		// The flag package parses every flag before -h, then prints the
		// usage and exits 0; a value it cannot parse exits 2 first.
		out, err := exec.Command(bin, append(args, "-h")...).CombinedOutput()
		if err != nil {
			line, _, _ := strings.Cut(string(out), "\n")
			t.Errorf("%s: a value the template accepts fails the flag parsing: %v: %s", ft.pipeline, err, line)
		}
		if !strings.Contains(string(out), "Usage of") {
			t.Errorf("%s -h printed no usage:\n%s", ft.pipeline, out)
		}
	})
}

// dockerfile is the Flex Template Dockerfile's instructions, continuation
// lines joined, comments dropped.
func dockerfile(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur += l + " "
			continue
		}
		if cur += line; strings.TrimSpace(cur) != "" {
			out = append(out, strings.Fields(cur))
		}
		cur = ""
	}
	return out
}

// image is what the Dockerfile builds with some build arguments, the parts
// checked here.
type image struct {
	stages     []string // base image of each stage
	flexBinary string   // FLEX_TEMPLATE_GO_BINARY
	copied     []string // the last COPY --from's source and destination
	built      []string // go build command lines
}

// buildImage reads the Dockerfile as docker build --build-arg=K=V for each
// of buildArgs would: an ARG before the first FROM is a default for FROM
// lines and for the stages' own ARG K; a stage sees only the ARGs it
// declares; an unset one expands to "".
func buildImage(t *testing.T, buildArgs map[string]string) image {
	t.Helper()
	var img image
	global := map[string]string{}
	var stage map[string]string // nil before the first FROM
	for _, ins := range dockerfile(t) {
		scope := stage
		if scope == nil {
			scope = global
		}
		expand := func(s string) string {
			return os.Expand(s, func(k string) string { return scope[k] })
		}
		switch strings.ToUpper(ins[0]) {
		case "ARG":
			k, v, hasDefault := strings.Cut(ins[1], "=")
			if given, ok := buildArgs[k]; ok {
				v = given
			} else if !hasDefault {
				v = global[k]
			}
			scope[k] = v
		case "FROM":
			img.stages = append(img.stages, os.Expand(ins[1], func(k string) string { return global[k] }))
			stage = map[string]string{}
		case "ENV":
			for _, kv := range ins[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok && k == "FLEX_TEMPLATE_GO_BINARY" {
					img.flexBinary = expand(strings.Trim(v, `"`))
				}
			}
		case "COPY":
			if stage != nil && strings.HasPrefix(ins[1], "--from=") {
				img.copied = []string{expand(ins[len(ins)-2]), expand(ins[len(ins)-1])}
			}
		case "RUN":
			if slices.Contains(ins, "go") && slices.Contains(ins, "build") {
				img.built = append(img.built, expand(strings.Join(ins[1:], " ")))
			}
		}
	}
	return img
}

func TestDockerfile(t *testing.T) {
	builds := map[string]map[string]string{"default (" + templates[0].pipeline + ")": nil}
	for _, ft := range templates {
		builds["PIPELINE="+ft.pipeline] = map[string]string{"PIPELINE": ft.pipeline}
	}
	for name, buildArgs := range builds {
		t.Run(name, func(t *testing.T) {
			pipeline := templates[0].pipeline
			if p, ok := buildArgs["PIPELINE"]; ok {
				pipeline = p
			}
			checkImage(t, buildImage(t, buildArgs), pipeline)
		})
	}
}

// checkImage checks that img is the launcher image of pipelines/pipeline.
func checkImage(t *testing.T, img image, pipeline string) {
	t.Helper()
	stages := img.stages
	if len(stages) < 2 || !strings.HasPrefix(stages[0], "golang:") {
		t.Fatalf("stages %v: want a golang build stage, then the launcher", stages)
	}
	if last := stages[len(stages)-1]; !strings.HasPrefix(last, "gcr.io/dataflow-templates-base/go-template-launcher-base") {
		t.Errorf("final stage is %s, want Google's Go template launcher base image", last)
	}
	// The binary's path names the job: runners/flink's CronJob runs the
	// similarity image's /template/similarity.
	if want := "/template/" + pipeline; img.flexBinary != want {
		t.Errorf("FLEX_TEMPLATE_GO_BINARY=%q, want %q", img.flexBinary, want)
	}
	want := "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o " + img.flexBinary + " ./pipelines/" + pipeline
	if !slices.Contains(img.built, want) {
		t.Errorf("go build commands %q: want %q", img.built, want)
	}
	if !slices.Equal(img.copied, []string{img.flexBinary, img.flexBinary}) {
		t.Errorf("the launcher stage copies %q, want the built %s to the same path", img.copied, img.flexBinary)
	}
	// The build stage's Go must be at least go.mod's go directive.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(gomod)
	golang := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(stages[0])
	if goLine == nil || golang == nil {
		t.Fatalf("cannot compare go.mod's go directive with %s", stages[0])
	}
	if version(golang[1], golang[2]) < version(string(goLine[1]), string(goLine[2])) {
		t.Errorf("%s is older than go.mod's go %s.%s", stages[0], goLine[1], goLine[2])
	}
}

func version(major, minor string) int {
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return a*1000 + b
}

// TestMakeTargets dry-runs template.mk: the commands it would run name
// existing files, and it stops early, naming the variable, without one.
func TestMakeTargets(t *testing.T) {
	makeTool, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not on PATH")
	}
	gcp := []string{"PROJECT=my-project", "REGION=europe-west1", "BUCKET=my-bucket"}
	for _, tc := range []struct {
		target string
		vars   []string
		want   []string // substrings of the output; errors start with "error: "
	}{
		{"template-image", gcp, []string{"gcloud builds submit", "--config=templates/dataflow/cloudbuild.yaml", "--substitutions=_IMAGE=europe-west1-docker.pkg.dev/my-project/dataflow/similarity:", ",_PIPELINE=similarity ."}},
		{"template-image", append(gcp, "TEMPLATE_BUILDER=docker", "TEMPLATE_TAG=v1"), []string{"docker build -f templates/dataflow/Dockerfile --build-arg=PIPELINE=similarity -t europe-west1-docker.pkg.dev/my-project/dataflow/similarity:v1 .", "docker push europe-west1-docker.pkg.dev/my-project/dataflow/similarity:v1"}},
		{"template-build", gcp, []string{"gcloud dataflow flex-template build gs://my-bucket/templates/similarity.json", "--image=europe-west1-docker.pkg.dev/my-project/dataflow/similarity:", "--sdk-language=GO", "--metadata-file=templates/dataflow/metadata.json"}},
		{"template-run", append(gcp, "TEMPLATE_PARAMS=input=gs://b/in.csv~output=gs://b/out.jsonl~weights=view:1,buy:5"), []string{"gcloud dataflow flex-template run similarity-", "--region=europe-west1", "--template-file-gcs-location=gs://my-bucket/templates/similarity.json", "--parameters='^~^input=gs://b/in.csv~output=gs://b/out.jsonl~weights=view:1,buy:5'"}},
		{"template-image", append(gcp, "PIPELINE=als"), []string{"gcloud builds submit", "--substitutions=_IMAGE=europe-west1-docker.pkg.dev/my-project/dataflow/als:", ",_PIPELINE=als ."}},
		{"template-image", append(gcp, "PIPELINE=als", "TEMPLATE_BUILDER=docker", "TEMPLATE_TAG=v1"), []string{"docker build -f templates/dataflow/Dockerfile --build-arg=PIPELINE=als -t europe-west1-docker.pkg.dev/my-project/dataflow/als:v1 .", "docker push europe-west1-docker.pkg.dev/my-project/dataflow/als:v1"}},
		{"template-build", append(gcp, "PIPELINE=als"), []string{"gcloud dataflow flex-template build gs://my-bucket/templates/als.json", "--image=europe-west1-docker.pkg.dev/my-project/dataflow/als:", "--metadata-file=templates/dataflow/als-metadata.json"}},
		{"template-run", append(gcp, "PIPELINE=als", "TEMPLATE_PARAMS=input=gs://b/in.csv~output=gs://b/n.jsonl~user_output=gs://b/u.jsonl~rank=32"), []string{"gcloud dataflow flex-template run als-", "--template-file-gcs-location=gs://my-bucket/templates/als.json", "--parameters='^~^input=gs://b/in.csv~output=gs://b/n.jsonl~user_output=gs://b/u.jsonl~rank=32'"}},
		{"template-build", gcp[:2], []string{"error: BUCKET is required"}},
		{"template-run", gcp, []string{"error: TEMPLATE_PARAMS is required"}},
		{"template-image", gcp[1:], []string{"error: PROJECT is required"}},
		{"template-build", append(gcp, "PIPELINE=evaluate"), []string{"error: PIPELINE=evaluate has no template"}},
		{"template-image", append(gcp, "PIPELINE=als similarity"), []string{"error: PIPELINE=als similarity has no template"}},
		{"template-run", append(gcp, "PIPELINE=", "TEMPLATE_PARAMS=output=gs://b/o"), []string{"error: PIPELINE= has no template"}},
	} {
		t.Run(tc.target+" "+strings.Join(tc.vars, " "), func(t *testing.T) {
			cmd := exec.Command(makeTool, append([]string{"--no-print-directory", "-n", "-f", "templates/dataflow/template.mk", tc.target}, tc.vars...)...)
			cmd.Dir = "../.."
			out, err := cmd.CombinedOutput()
			failed := err != nil
			for _, w := range tc.want {
				w, wantErr := strings.CutPrefix(w, "error: ")
				if failed != wantErr || !strings.Contains(string(out), w) {
					t.Errorf("make -n %s: error %v, output:\n%s\nwant it to contain %q", tc.target, err, out, w)
				}
			}
			for _, path := range regexp.MustCompile(`templates/dataflow/[\w./-]+`).FindAllString(string(out), -1) {
				if _, err := os.Stat(filepath.Join("../..", path)); err != nil {
					t.Errorf("make -n %s names %s: %v", tc.target, path, err)
				}
			}
		})
	}
}

// TestCloudBuild checks that Cloud Build builds the Dockerfile of the
// pipeline template.mk gives from the module root and pushes the image
// template.mk names.
func TestCloudBuild(t *testing.T) {
	b, err := os.ReadFile("cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"-f", "templates/dataflow/Dockerfile"`, `"--build-arg=PIPELINE=${_PIPELINE}"`, `"-t", "${_IMAGE}", "."`, `images: ["${_IMAGE}"]`,
		// The default when --substitutions gives no _PIPELINE: the Dockerfile's.
		"substitutions:\n  _PIPELINE: " + templates[0].pipeline + "\n"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("cloudbuild.yaml does not contain %s", want)
		}
	}
}
