package server

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"net/http"
	"strings"

	"github.com/keyward/keyward/api"
)

//go:embed assets/redoc.standalone.js.gz
var redocGz []byte

const docsPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyward API</title>
<style>body{margin:0}</style>
</head>
<body>
<redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
`

// serveDocsPage serves the API documentation page; its script is embedded,
// so it works with no internet access.
func serveDocsPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:")
	io.WriteString(w, docsPage)
}

// serveRedoc serves the embedded Redoc bundle, compressed when the client
// accepts gzip.
func serveRedoc(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		w.Write(redocGz)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(redocGz))
	if err != nil {
		http.Error(w, "corrupt embedded asset", http.StatusInternalServerError)
		return
	}
	io.Copy(w, zr)
}

const placeholderPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>keyward</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto">
<h1>keyward</h1>
<p>API key management. See the <a href="/docs">API documentation</a> and the
<a href="/openapi.json">OpenAPI document</a>.</p>
</body></html>
`

func servePlaceholder(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeProblem(w, newProblem(http.StatusNotFound, api.CodeNotFound, "no such page"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, placeholderPage)
}
