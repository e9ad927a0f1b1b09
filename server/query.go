package server

import (
	"net/url"
	"strings"
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
