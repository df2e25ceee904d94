// Package web holds Switchboard's pages, embedded in the binary: the demo
// shop (/), the customer widget (/widget.js), the agent desktop (/agent)
// and the supervisor view (/supervisor). They are plain HTML, CSS and ES
// modules with no build step; they talk only to the hub's own REST API and
// WebSocket.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// pages maps the pages' paths to their files.
var pages = map[string]string{
	"/":           "index.html",
	"/agent":      "agent.html",
	"/supervisor": "supervisor.html",
}

// Handler serves the embedded pages and their scripts.
//
// Every answer carries a Content-Security-Policy: scripts, styles and
// connections only from the hub itself (its WebSocket included), no inline
// script, no framing. The widget's files (widget.js, widget.css, js/) are
// also loaded by other sites' pages, so they may be read cross-origin:
// widget.js imports js/conn.js and js/api.js as modules, which needs CORS.
// Who may then talk to the hub is decided by the API and the WebSocket
// allow-list, not here.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp(r.Host))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		if strings.HasPrefix(r.URL.Path, "/js/") || r.URL.Path == "/widget.js" || r.URL.Path == "/widget.css" {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		}
		if name, ok := pages[r.URL.Path]; ok {
			http.ServeFileFS(w, r, sub, name)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".html") || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // one address per page
			return
		}
		files.ServeHTTP(w, r)
	})
}

// csp is the pages' Content-Security-Policy. 'self' covers the hub's
// WebSocket in current browsers; naming ws: and wss: on the same host keeps
// older ones working too.
func csp(host string) string {
	if strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-[]") != "" {
		host = "invalid" // not a host: name nothing beyond 'self'
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self' ws://" + host + " wss://" + host + "; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
