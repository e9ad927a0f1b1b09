package httpauth_test

import (
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/httpauth"
)

func TestRedactKeys(t *testing.T) {
	k1 := keyward.Token{Prefix: "kw", ID: "32pl2YI89o7WJi3Z", Secret: strings.Repeat("a", keyward.SecretLength)}.String()
	k2 := keyward.Token{Prefix: "sk_live", ID: "0123456789abcdef", Secret: strings.Repeat("B", keyward.SecretLength)}.String()
	wrongSum := k1[:len(k1)-1] + map[bool]string{true: "1", false: "0"}[k1[len(k1)-1] == '0']
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no key", "/v1/keys/32pl2YI89o7WJi3Z", "/v1/keys/32pl2YI89o7WJi3Z"},
		{"a key in a path", "/v1/keys/" + k1, "/v1/keys/kw_32pl2YI89o7WJi3Z_[redacted]"},
		{"two keys", "/x/" + k1 + "/y/" + k2 + "?z", "/x/kw_32pl2YI89o7WJi3Z_[redacted]/y/sk_live_0123456789abcdef_[redacted]?z"},
		{"glued to text", "API_KEY=" + k1, "API_KEY=kw_32pl2YI89o7WJi3Z_[redacted]"},
		{"a wrong checksum is not a key", "/v1/keys/" + wrongSum, "/v1/keys/" + wrongSum},
		{"glued to what follows", "/v1/keys/" + k1 + "abc/usage", "/v1/keys/kw_32pl2YI89o7WJi3Z_[redacted]abc/usage"},
		{"glued to an underscore", "/v1/keys/" + k1 + "_x", "/v1/keys/kw_32pl2YI89o7WJi3Z_[redacted]_x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpauth.RedactKeys(tc.in); got != tc.want {
				t.Errorf("RedactKeys(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { httpauth.RedactKeys("/v1/keys/32pl2YI89o7WJi3Z/usage_and_more") }); n != 0 {
		t.Errorf("RedactKeys of a string without a key: %v allocations, want 0", n)
	}
}
