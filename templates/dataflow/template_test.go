// Package dataflow checks the Dataflow Flex Template of pipelines/similarity
// (metadata.json, Dockerfile, template.mk) against the pipeline's source.
// It holds tests only: the template is files for gcloud and Docker.
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
	pipelineDir = "../../pipelines/similarity"
	// optionsDir holds the flags the jobs share; the pipeline registers
	// groups of them by calling optionsPkg's Register functions.
	optionsDir = "../../pipelines/options"
	optionsPkg = "github.com/recsys/itemsim/pipelines/options"
)

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
// sources define, and where: with the flag package's functions or
// flag.CommandLine's methods, and through the options package's Register
// functions, which must be given flag.CommandLine.
func pipelineFlags(t *testing.T) map[string]string {
	t.Helper()
	pipe, opts := parsePackage(t, pipelineDir), parsePackage(t, optionsDir)
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
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Parameters  []parameter `json:"parameters"`
}

type parameter struct {
	Name       string   `json:"name"`
	Label      string   `json:"label"`
	HelpText   string   `json:"helpText"`
	IsOptional *bool    `json:"isOptional"`
	Regexes    []string `json:"regexes"`
}

func loadMetadata(t *testing.T) metadata {
	t.Helper()
	b, err := os.ReadFile("metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m metadata
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	return m
}

func TestParametersAreThePipelineFlags(t *testing.T) {
	flags := pipelineFlags(t)
	m := loadMetadata(t)
	params := map[string]bool{}
	for _, p := range m.Parameters {
		if params[p.Name] {
			t.Errorf("parameter %s is listed twice", p.Name)
		}
		params[p.Name] = true
		if _, ok := flags[p.Name]; !ok {
			t.Errorf("parameter %s is not a flag of %s: the binary would fail on it", p.Name, pipelineDir)
		}
	}
	for name, pos := range flags {
		if !params[name] {
			t.Errorf("flag --%s (%s) is not a template parameter in metadata.json", name, pos)
		}
	}
	if m.Name == "" || m.Description == "" {
		t.Error("metadata.json needs a name and a description")
	}
}

// exampleSep introduces the example value that ends every helpText.
const exampleSep = " Example: "

// values are accepted and rejected values of each parameter, besides the
// example its helpText ends with.
var values = map[string]struct{ good, bad []string }{
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
	"threshold":          {good: []string{"0", "0.5", "1"}, bad: []string{"1.5", "-0.1", "1.01", "0,5", "NaN"}},
	"measure":            {good: []string{"cosine", "jaccard", "llr", "lift", "cooccurrence", "rp3beta"}, bad: []string{"pearson", "LLR", "", "cosine "}},
	"user_weighting":     {good: []string{"none", "idf", "bm25"}, bad: []string{"tfidf", "BM25", ""}},
	"bm25_k1":            {good: []string{"100", "1.2", ".5", "1e3"}, bad: []string{"-1", "abc", "1,2", ""}},
	"bm25_b":             {good: []string{"0", "0.75", "1"}, bad: []string{"1.5", "-0.1", "abc"}},
	"asymmetric_alpha":   {good: []string{"0", "0.5", "0.8", "1"}, bad: []string{"1.5", "-0.1", "NaN"}},
	"rp3_beta":           {good: []string{"0", "0.5", "1.25", "2", ".6"}, bad: []string{"2.5", "-0.1", "3", "abc"}},
	"shrinkage":          {good: []string{"0", "20", "2.5"}, bad: []string{"-1", "ten", "NaN"}},
	"seed":               {good: []string{"0", "42", "9223372036854775807"}, bad: []string{"-1", "4.2", "42x", "18446744073709551616"}},
	"top_n":              {good: []string{"1", "20"}, bad: []string{"0", "-5", "20.5", "abc", "1000000000"}},
	"min_similarity":     {good: []string{"0", "0.3", "-1", "1"}, bad: []string{"1.5", "-1.5", "NaN", "abc"}},
	"output":             {good: []string{"gs://my-bucket/out/neighbors.jsonl"}, bad: []string{"out/neighbors.jsonl", "/tmp/n.jsonl", "gs://my-bucket", "bq://p.d.t"}},
	"shards":             {good: []string{"1", "256", "4096"}, bad: []string{"0", "-1", "2e3", "1_000"}},
	"sum_goroutines":     {good: []string{"0", "1", "16"}, bad: []string{"-1", "1.5", "01"}},
	"max_pending_pairs":  {good: []string{"0", "4000000"}, bad: []string{"-1", "4e6", "4_000_000"}},
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
	m := loadMetadata(t)
	seen := map[string]bool{}
	for _, p := range m.Parameters {
		seen[p.Name] = true
		t.Run(p.Name, func(t *testing.T) {
			if p.Label == "" || p.HelpText == "" || p.IsOptional == nil {
				t.Fatalf("%s needs a label, a helpText and isOptional: %+v", p.Name, p)
			}
			if wantOptional := p.Name != "output"; *p.IsOptional != wantOptional {
				t.Errorf("isOptional = %v, want %v (only output is always required; input or input_query is checked by the pipeline)", *p.IsOptional, wantOptional)
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
			cases, ok := values[p.Name]
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
	for name := range values {
		if !seen[name] {
			t.Errorf("the test's table has values for %s, which is not a parameter", name)
		}
	}
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

func TestDockerfile(t *testing.T) {
	args := map[string]string{}
	var stages []string // base image of each stage
	var flexBinary, copied string
	var built []string // go build command lines
	for _, ins := range dockerfile(t) {
		expand := func(s string) string {
			return os.Expand(s, func(k string) string { return args[k] })
		}
		switch strings.ToUpper(ins[0]) {
		case "ARG":
			k, v, _ := strings.Cut(ins[1], "=")
			args[k] = v
		case "FROM":
			stages = append(stages, expand(ins[1]))
		case "ENV":
			for _, kv := range ins[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok && k == "FLEX_TEMPLATE_GO_BINARY" {
					flexBinary = strings.Trim(v, `"`)
				}
			}
		case "COPY":
			if len(stages) > 0 && strings.HasPrefix(ins[1], "--from=") {
				copied = ins[len(ins)-1]
			}
		case "RUN":
			if slices.Contains(ins, "go") && slices.Contains(ins, "build") {
				built = append(built, strings.Join(ins[1:], " "))
			}
		}
	}
	if len(stages) < 2 || !strings.HasPrefix(stages[0], "golang:") {
		t.Fatalf("stages %v: want a golang build stage, then the launcher", stages)
	}
	if last := stages[len(stages)-1]; !strings.HasPrefix(last, "gcr.io/dataflow-templates-base/go-template-launcher-base") {
		t.Errorf("final stage is %s, want Google's Go template launcher base image", last)
	}
	if flexBinary == "" || copied != flexBinary {
		t.Errorf("FLEX_TEMPLATE_GO_BINARY=%q but the binary is copied to %q", flexBinary, copied)
	}
	want := "CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o " + flexBinary + " ./pipelines/similarity"
	if !slices.Contains(built, want) {
		t.Errorf("go build commands %q: want %q", built, want)
	}
	// The build stage's Go must be at least go.mod's go directive.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindSubmatch(gomod)
	image := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(stages[0])
	if goLine == nil || image == nil {
		t.Fatalf("cannot compare go.mod's go directive with %s", stages[0])
	}
	if version(image[1], image[2]) < version(string(goLine[1]), string(goLine[2])) {
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
		{"template-image", gcp, []string{"gcloud builds submit", "--config=templates/dataflow/cloudbuild.yaml", "_IMAGE=europe-west1-docker.pkg.dev/my-project/dataflow/similarity:"}},
		{"template-image", append(gcp, "TEMPLATE_BUILDER=docker", "TEMPLATE_TAG=v1"), []string{"docker build -f templates/dataflow/Dockerfile -t europe-west1-docker.pkg.dev/my-project/dataflow/similarity:v1 .", "docker push"}},
		{"template-build", gcp, []string{"gcloud dataflow flex-template build gs://my-bucket/templates/similarity.json", "--sdk-language=GO", "--metadata-file=templates/dataflow/metadata.json"}},
		{"template-run", append(gcp, "TEMPLATE_PARAMS=input=gs://b/in.csv~output=gs://b/out.jsonl~weights=view:1,buy:5"), []string{"gcloud dataflow flex-template run similarity-", "--region=europe-west1", "--parameters='^~^input=gs://b/in.csv~output=gs://b/out.jsonl~weights=view:1,buy:5'"}},
		{"template-build", gcp[:2], []string{"error: BUCKET is required"}},
		{"template-run", gcp, []string{"error: TEMPLATE_PARAMS is required"}},
		{"template-image", gcp[1:], []string{"error: PROJECT is required"}},
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

// TestCloudBuild checks that Cloud Build builds the Dockerfile from the
// module root and pushes the image template.mk names.
func TestCloudBuild(t *testing.T) {
	b, err := os.ReadFile("cloudbuild.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"-f", "templates/dataflow/Dockerfile"`, `"-t", "${_IMAGE}", "."`, `images: ["${_IMAGE}"]`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("cloudbuild.yaml does not contain %s", want)
		}
	}
}
