package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward/api"
)

// queryParam returns the first value of the parameter name in the raw query
// string, decoded, as url.ParseQuery(raw).Get(name) does, without building
// the map: /v1/auth reads four parameters of every request. Like
// url.ParseQuery, it skips pairs that hold a ';' or do not decode.
func queryParam(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		return v
	}
	return ""
}

// validQuery reports whether every pair of a raw query decodes, as
// url.ParseQuery requires to return no error: no ';' between pairs and a
// '%' always followed by two hexadecimal digits. Without the check a broken
// pair would be dropped, and the request read as if it had not sent it: a
// scopes=%zz would ask for no scope at all.
func validQuery(raw string) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ';':
			return false
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// queryProblem is the message of a query string that does not decode.
const queryProblem = "is not valid URL encoding: a '%' must start a two-digit escape (%XX), and pairs are separated by '&' only"

// badQueryProblem is the answer to a query string that does not decode:
// 422 at location query.
func badQueryProblem() *problem {
	return newProblem(http.StatusUnprocessableEntity, api.CodeValidationFailed, "the request breaks the rules listed in errors",
		api.ProblemDetail{Location: "query", Message: queryProblem})
}
