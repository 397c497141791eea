// Package dashboard is the scheduler's web page: an overview of the
// cluster, stores, regions and the key visualizer's heatmap. It is plain
// HTML, CSS and JavaScript embedded in the binary — no build step, nothing
// fetched from elsewhere, so it works on a machine without internet — and
// reads the scheduler's HTTP JSON API (/api/v1) from the browser.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

// Path is where the dashboard is served.
const Path = "/dashboard/"

//go:embed assets
var assets embed.FS

// files is the page's files, at the root.
var files = func() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	return sub
}()

// csp allows the page to load only its own files and to talk only to the
// server it came from.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register adds the dashboard's routes to m: the page under Path, and
// redirects to it from /dashboard and /.
func Register(m *http.ServeMux) {
	static := http.StripPrefix(Path, http.FileServerFS(files))
	m.Handle("GET "+Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		// The files change with the binary: always revalidate.
		h.Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}))
	m.Handle("GET /dashboard", http.RedirectHandler(Path, http.StatusMovedPermanently))
	m.Handle("GET /{$}", http.RedirectHandler(Path, http.StatusFound))
}
