package keyward_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedEdges are the imports between keyward's library packages that
// ARCHITECTURE.md allows, besides every package importing the root.
var allowedEdges = map[string][]string{
	"":                      {"internal/pace", "internal/stripe"},
	"cache":                 {"internal/pace", "internal/stripe"},
	"cache/redis":           {"cache"},
	"ratelimit/redis":       {"ratelimit"},
	"ratelimit/limitertest": {"ratelimit"},
	"store/storetest":       {"keyhash"},
	"store/sqlite":          {"internal/spendgroup", "internal/useddays"},
	"store/postgres":        {"internal/spendgroup", "internal/useddays"},
	"server":                {"api", "httpauth"},
	"client":                {"api"},
	"extauthz":              {"api", "httpauth"},
}

// wiring packages may import anything: they put the library together.
func wiring(pkg string) bool {
	return pkg == "cmd/keyward" || strings.HasPrefix(pkg, "cmd/") || strings.HasPrefix(pkg, "test/") ||
		strings.HasPrefix(pkg, "examples/") ||
		strings.HasPrefix(pkg, "bench/") || strings.HasPrefix(pkg, "internal/test")
}

// TestImportsFollowArchitecture checks the import rule of ARCHITECTURE.md
// against go list: library packages import the root and the edges of the
// table only, the root imports the standard library (and internal/pace and
// internal/stripe),
// and nothing imports cmd/.
func TestImportsFollowArchitecture(t *testing.T) {
	const mod = "github.com/keyward/keyward"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Skipf("go list is not available here: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		for _, imp := range fields[1:] {
			if imp != mod && !strings.HasPrefix(imp, mod+"/") {
				continue // standard library or a dependency
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, mod), "/")
			checked++
			switch {
			case strings.HasPrefix(dep, "cmd/"):
				t.Errorf("%s imports %s: nothing imports a command", fields[0], imp)
			case wiring(pkg), dep == "":
			case !slices.Contains(allowedEdges[pkg], dep):
				t.Errorf("%s imports %s: not an edge ARCHITECTURE.md allows (add it there first, with its reason)", fields[0], imp)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list showed no import between keyward packages: the check checked nothing")
	}
}
