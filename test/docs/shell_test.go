package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/testserver"
)

// shellCmd is one command of a shell block in the documentation.
type shellCmd struct {
	text    string   // the command as written, without its trailing comment
	comment string   // the comment on its last line
	shows   []string // the comment lines right below it: the output it shows
}

// wantExit is the exit status the command's comment promises ("exit 1"),
// or 0.
func (c shellCmd) wantExit() int {
	if m := exitNote.FindStringSubmatch(c.comment); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

var exitNote = regexp.MustCompile(`\bexit (\d+)`)

// parseShell splits a shell block into commands. A command ends at a
// newline outside quotes that does not follow a backslash; a # that starts a
// word outside quotes starts a comment. Comment lines right below a command
// (no blank line between) show its output; other comment lines are prose.
func parseShell(block string) []shellCmd {
	var cmds []shellCmd
	var buf strings.Builder
	var quote rune
	showing := false // the previous line was a command or its output
	for _, line := range strings.Split(block, "\n") {
		trimmed := strings.TrimSpace(line)
		if buf.Len() == 0 && quote == 0 {
			switch {
			case trimmed == "":
				showing = false
				continue
			case strings.HasPrefix(trimmed, "#"):
				if showing {
					cmds[len(cmds)-1].shows = append(cmds[len(cmds)-1].shows, strings.TrimPrefix(strings.TrimPrefix(trimmed, "#"), " "))
				}
				continue
			}
		}
		code, comment := line, ""
		prev := ' '
		for i, r := range line {
			switch {
			case quote != 0 && r == quote:
				quote = 0
			case quote != 0:
			case r == '\'' || r == '"':
				quote = r
			case r == '#' && (prev == ' ' || prev == '\t'):
				code, comment = line[:i], strings.TrimSpace(line[i+1:])
			}
			if comment != "" || code != line {
				break
			}
			prev = r
		}
		buf.WriteString(strings.TrimRight(code, " \t"))
		if quote != 0 || strings.HasSuffix(strings.TrimRight(code, " \t"), "\\") {
			buf.WriteString("\n")
			continue
		}
		cmds = append(cmds, shellCmd{text: buf.String(), comment: comment})
		buf.Reset()
		showing = true
	}
	return cmds
}

// shellResult is what a command did.
type shellResult struct {
	cmd    shellCmd
	exit   int
	stdout string
	stderr string
}

// shell runs documented commands with bash in a working directory, with the
// keyward binary first on PATH and no KEYWARD_ variable of the test's own
// environment. Shell variables carry over from one block to the next.
type shell struct {
	t    *testing.T
	bin  string // the keyward binary
	dir  string // the working directory, empty at first
	out  string // where the results go, outside dir
	env  []string
	vars string // the shell variables of the blocks run so far
	runs int
}

func newShell(t *testing.T) *shell {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed: the documented commands are shell commands")
	}
	bin := testserver.Binary(t)
	sh := &shell{t: t, bin: bin, dir: t.TempDir(), out: t.TempDir()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") && !strings.HasPrefix(kv, "PATH=") {
			sh.env = append(sh.env, kv)
		}
	}
	sh.env = append(sh.env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	sh.vars = filepath.Join(sh.out, "vars.sh")
	return sh
}

var assignment = regexp.MustCompile(`(?m)^\s*([A-Za-z_][A-Za-z0-9_]*)=`)

// run runs the commands one after the other in one bash process, each with
// its output captured, and returns what each did. edit, if not nil,
// rewrites a command before it runs (a port, a pasted credential).
func (sh *shell) run(cmds []shellCmd, edit func(string) string) []shellResult {
	sh.t.Helper()
	sh.runs++
	var script strings.Builder
	fmt.Fprintf(&script, "[ -f %q ] && . %q\n", sh.vars, sh.vars)
	names := map[string]bool{}
	for i, c := range cmds {
		text := c.text
		if edit != nil {
			text = edit(text)
		}
		for _, m := range assignment.FindAllStringSubmatch(text, -1) {
			names[m[1]] = true
		}
		base := filepath.Join(sh.out, fmt.Sprintf("%d.%d", sh.runs, i))
		fmt.Fprintf(&script, "{ %s\n} >%q 2>%q </dev/null\necho $? >%q\n", text, base+".out", base+".err", base+".rc")
	}
	if old, err := os.ReadFile(sh.vars); err == nil {
		for _, m := range regexp.MustCompile(`declare -\S* ([A-Za-z_][A-Za-z0-9_]*)=`).FindAllStringSubmatch(string(old), -1) {
			names[m[1]] = true
		}
	}
	if len(names) > 0 {
		var list []string
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		fmt.Fprintf(&script, "declare -p %s >%q 2>/dev/null\n", strings.Join(list, " "), sh.vars)
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir, cmd.Env = sh.dir, sh.env
	if out, err := cmd.CombinedOutput(); err != nil {
		sh.t.Fatalf("bash: %v\n%s\nscript:\n%s", err, out, script.String())
	}
	results := make([]shellResult, len(cmds))
	for i, c := range cmds {
		base := filepath.Join(sh.out, fmt.Sprintf("%d.%d", sh.runs, i))
		rc, err := os.ReadFile(base + ".rc")
		if err != nil {
			sh.t.Fatalf("%s: did not run (%v)", c.text, err)
		}
		exit, _ := strconv.Atoi(strings.TrimSpace(string(rc)))
		stdout, _ := os.ReadFile(base + ".out")
		stderr, _ := os.ReadFile(base + ".err")
		results[i] = shellResult{cmd: c, exit: exit, stdout: string(stdout), stderr: string(stderr)}
	}
	return results
}

// check fails the test for every command whose exit status is not the one
// its comment promises, or whose output lacks a line shown below it. Shown
// lines are compared with the output's lines after normalize, with replace
// applied to the shown lines first (sample values to the real ones); "..."
// and "…" in a shown line stand for any text.
func check(t *testing.T, results []shellResult, replace map[string]string) {
	t.Helper()
	for _, r := range results {
		if want := r.cmd.wantExit(); r.exit != want {
			t.Errorf("%s\nexit %d, the documentation says %d\nstdout:\n%sstderr:\n%s", r.cmd.text, r.exit, want, r.stdout, r.stderr)
			continue
		}
		lines := strings.Split(r.stdout+"\n"+r.stderr, "\n")
		for i := range lines {
			lines[i] = normalize(lines[i])
		}
		for _, shown := range r.cmd.shows {
			for sample, real := range replace {
				shown = strings.ReplaceAll(shown, sample, real)
			}
			if !matchesOne(normalize(shown), lines) {
				t.Errorf("%s\nprinted no line like the documentation's %q\nstdout:\n%sstderr:\n%s", r.cmd.text, shown, r.stdout, r.stderr)
			}
		}
	}
}

var (
	keyString = regexp.MustCompile(`([a-z][a-z0-9_]*)_[0-9A-Za-z]{16}_[0-9A-Za-z]{46}`)
	keyID     = regexp.MustCompile(`(^|[^0-9A-Za-z])[0-9A-Za-z]{16}([^0-9A-Za-z]|$)`)
	spaces    = regexp.MustCompile(`[ \t]+`)
)

// normalize makes a line comparable across runs: the ids and secrets of
// keys (which differ for every reader) become placeholders, runs of spaces
// one space.
func normalize(s string) string {
	s = strings.TrimSpace(strings.TrimSuffix(s, "\r"))
	s = keyString.ReplaceAllString(s, "${1}_<id>_<secret>")
	for keyID.MatchString(s) { // matches may touch: replace until none is left
		s = keyID.ReplaceAllString(s, "$1<id>$2")
	}
	return spaces.ReplaceAllString(s, " ")
}

// matchesOne reports whether one of lines is shown, where "..." and "…" in
// shown stand for any text.
func matchesOne(shown string, lines []string) bool {
	parts := regexp.MustCompile(`\.\.\.|…`).Split(shown, -1)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

func TestParseShell(t *testing.T) {
	cmds := parseShell(`mkdir x && cd x
ID=$(keyward keys create "a # b" -o id)   # exit 0
# shown 1
#  shown 2

# prose
curl -s localhost -d '{"a":
   1}' | tee k.json
keyward keys verify - < key.txt \
  --scope x      # exit 1
`)
	want := []shellCmd{
		{text: "mkdir x && cd x"},
		{text: `ID=$(keyward keys create "a # b" -o id)`, comment: "exit 0", shows: []string{"shown 1", " shown 2"}},
		{text: "curl -s localhost -d '{\"a\":\n   1}' | tee k.json"},
		{text: "keyward keys verify - < key.txt \\\n  --scope x", comment: "exit 1"},
	}
	if fmt.Sprintf("%q", cmds) != fmt.Sprintf("%q", want) {
		t.Errorf("parseShell:\n%q\nwant\n%q", cmds, want)
	}
	if cmds[3].wantExit() != 1 || cmds[1].wantExit() != 0 {
		t.Error("wantExit")
	}
	if !matchesOne(normalize(`{"key":{"id":"tJWllq6HlvDp2QDx",...},"secret":"kw_tJWllq6HlvDp2QDx_..."}`),
		[]string{normalize(`{"key":{"id":"MxvWIyyVGDtU1dMc","a":1},"secret":"kw_MxvWIyyVGDtU1dMc_3kkYBfB8giw6MTL6da5VFP4voKSR5c2IOpiWix672cjMZ8"}`)}) {
		t.Error("matchesOne with ... and two different ids")
	}
}
