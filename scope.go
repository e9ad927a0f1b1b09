package keyward

import "strings"

// Scopes reserved for keyward itself. No wildcard ever grants them.
const (
	// ScopeAdmin lets a key call the admin API of keyward serve.
	ScopeAdmin = "keyward:admin"
	// ScopeVerify lets a key call POST /v1/keys/verify.
	ScopeVerify = "keyward:verify"

	reservedNamespace = "keyward:"
	maxScopeLength    = 200
)

// MaxScopes is the most scopes a key may have.
const MaxScopes = 100

// ScopeGranted reports whether the granted scopes cover need: an exact match,
// a granted "*" (any scope), or a granted "res:*" for a need starting with
// "res:". Scopes in the "keyward:" namespace are granted only by exact match.
func ScopeGranted(granted []string, need string) bool {
	reserved := strings.HasPrefix(need, reservedNamespace)
	for _, g := range granted {
		if g == need {
			return true
		}
		if reserved {
			continue
		}
		if g == "*" {
			return true
		}
		if n := len(g); n >= 2 && g[n-1] == '*' && g[n-2] == ':' &&
			len(need) > n-1 && need[:n-1] == g[:n-1] {
			return true
		}
	}
	return false
}

// MissingScope returns the first of needed that granted does not cover, and
// reports whether there is one.
func MissingScope(granted, needed []string) (string, bool) {
	for _, n := range needed {
		if !ScopeGranted(granted, n) {
			return n, true
		}
	}
	return "", false
}

// validateScope checks the form of one scope: 1-200 printable ASCII
// characters without spaces or commas (which separate scopes in headers and
// query strings); a '*' may appear only as the whole scope or after a
// trailing ':'.
func validateScope(s string) string {
	if s == "" || len(s) > maxScopeLength {
		return "must be 1-200 characters"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == '"' || c == '\\' {
			return "may contain only printable ASCII without spaces, commas, quotes or backslashes"
		}
		if c == '*' && !(s == "*" || i == len(s)-1 && i > 0 && s[i-1] == ':') {
			return `"*" is allowed only as the whole scope or as a trailing ":*"`
		}
	}
	return ""
}
