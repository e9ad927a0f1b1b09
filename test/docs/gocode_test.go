package docs

import (
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the checkout: test/docs is two levels down.
const root = "../.."

// goBlock is a piece of Go code shown in the documentation.
type goBlock struct {
	where string // file:line
	text  string
}

// TestGoCodeInDocsIsCompiled finds every block of Go code in the doc
// comments of the root module's packages (package comments and the comments
// of top-level declarations) and in the Markdown files (README.md, docs/,
// ARCHITECTURE.md), and checks that it appears, line for line, in a file that
// go test compiles: a _test.go file (an Example, or the test the comment
// describes) or a program under examples/. Code that appears nowhere can
// stop compiling without anyone noticing; a block that is not Go (a key
// format, a table) is left alone.
func TestGoCodeInDocsIsCompiled(t *testing.T) {
	blocks := append(docCommentBlocks(t), markdownBlocks(t)...)
	compiled := compiledFiles(t)
	checked := 0
	for _, b := range blocks {
		if !isGo(b.text) {
			continue
		}
		checked++
		want := codeLines(b.text)
		found := false
		for _, lines := range compiled {
			if containsRun(lines, want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: this Go code is in no _test.go file and no program under examples/, so nothing compiles it; make it an Example (or copy it there verbatim):\n%s", b.where, b.text)
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d blocks of Go code: the search finds too few to be working", checked)
	}
}

// TestLibraryQuickStartIsTheProgram: the README's library quick start is the
// whole of examples/quickstart/main.go, which its test builds and runs.
func TestLibraryQuickStartIsTheProgram(t *testing.T) {
	blocks := fencedBlocks(t, filepath.Join(root, "README.md"), "## Library quick start", "go")
	if len(blocks) != 1 {
		t.Fatalf("README.md's library quick start has %d Go blocks, want 1", len(blocks))
	}
	program, err := os.ReadFile(filepath.Join(root, "examples", "quickstart", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if blocks[0].text != string(program) {
		t.Errorf("README.md's library quick start differs from examples/quickstart/main.go: copy the file into the README")
	}
}

// docCommentBlocks returns the code blocks of the doc comments in the root
// module's non-test Go files.
func docCommentBlocks(t *testing.T) []goBlock {
	t.Helper()
	var out []goBlock
	var p comment.Parser
	walkModule(t, func(path string) {
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		docs := []*ast.CommentGroup{f.Doc}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				docs = append(docs, d.Doc)
			case *ast.GenDecl:
				docs = append(docs, d.Doc)
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						docs = append(docs, ts.Doc)
					}
				}
			}
		}
		for _, g := range docs {
			if g == nil {
				continue
			}
			for _, b := range p.Parse(g.Text()).Content {
				if c, ok := b.(*comment.Code); ok {
					out = append(out, goBlock{where: rel(path) + ":" + itoa(fset.Position(g.Pos()).Line), text: c.Text})
				}
			}
		}
	})
	return out
}

// markdownBlocks returns the ```go blocks of the Markdown files.
func markdownBlocks(t *testing.T) []goBlock {
	t.Helper()
	var out []goBlock
	walkModule(t, func(path string) {
		if strings.HasSuffix(path, ".md") {
			out = append(out, fencedBlocks(t, path, "", "go")...)
		}
	})
	return out
}

var fence = regexp.MustCompile("^\\s*```\\s*([A-Za-z0-9]*)\\s*$")

// fencedBlocks returns the fenced blocks of language lang in the Markdown
// file at path; with section, only those of the section that starts with
// that heading line (up to the next heading of the same level).
func fencedBlocks(t *testing.T, path, section, lang string) []goBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	inSection := section == ""
	level := strings.Count(strings.Fields(section + " x")[0], "#")
	var out []goBlock
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if section != "" && strings.HasPrefix(line, "#") {
			if strings.TrimSpace(line) == section {
				inSection = true
				continue
			}
			if h := len(line) - len(strings.TrimLeft(line, "#")); inSection && h <= level {
				break
			}
		}
		m := fence.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		if inSection && m[1] == lang {
			out = append(out, goBlock{where: rel(path) + ":" + itoa(start+1), text: strings.Join(body, "\n") + "\n"})
		}
	}
	return out
}

// compiledFiles returns the lines of every file go test compiles that may
// hold documented code: _test.go files and the programs under examples/.
func compiledFiles(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	walkModule(t, func(path string) {
		r := rel(path)
		if strings.HasSuffix(r, "_test.go") || (strings.HasPrefix(r, "examples/") && strings.HasSuffix(r, ".go")) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, codeLines(string(raw)))
		}
	})
	return out
}

// walkModule calls fn on every file of the root module: nested modules
// (their own go.mod), testdata and hidden directories are left out.
func walkModule(t *testing.T, fn func(path string)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != root && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		fn(path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isGo reports whether text parses as Go statements or declarations.
func isGo(text string) bool {
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+text+"\n}\n", 0); err == nil {
		return true
	}
	_, err := parser.ParseFile(fset, "", "package p\n"+text, 0)
	return err == nil
}

// codeLines returns the lines of text without their indentation and
// without blank lines.
func codeLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsRun reports whether want appears in lines as consecutive lines.
func containsRun(lines, want []string) bool {
	if len(want) == 0 {
		return true
	}
	for i := 0; i+len(want) <= len(lines); i++ {
		if lines[i] != want[0] {
			continue
		}
		j := 1
		for j < len(want) && lines[i+j] == want[j] {
			j++
		}
		if j == len(want) {
			return true
		}
	}
	return false
}

func rel(path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

func itoa(n int) string { return strconv.Itoa(n) }
