package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T) *httptest.Server {
	m := http.NewServeMux()
	Register(m)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestServesEveryFileItLinks: the page's files are served with their types
// and the security headers, and every file index.html links exists.
func TestServesEveryFileItLinks(t *testing.T) {
	srv := serve(t)
	resp, page := get(t, srv.URL+Path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != csp || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("index: %d, headers %v", resp.StatusCode, resp.Header)
	}
	links := regexp.MustCompile(`(?:src|href)="([^"#:]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("index.html links %v, want the script and the style sheet", links)
	}
	types := map[string]string{".js": "text/javascript", ".css": "text/css"}
	for _, l := range links {
		resp, body := get(t, srv.URL+Path+l[1])
		ext := l[1][strings.LastIndex(l[1], "."):]
		if resp.StatusCode != 200 || len(body) == 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), types[ext]) {
			t.Errorf("%s: %d, %d bytes, type %q", l[1], resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get(t, srv.URL+Path+"nope.js"); resp.StatusCode != 404 {
		t.Errorf("a missing file: %d, want 404", resp.StatusCode)
	}
}

// TestNothingFromElsewhere: no file of the page names another host, so it
// works on a machine without internet (the CSP would block it anyway).
func TestNothingFromElsewhere(t *testing.T) {
	external := regexp.MustCompile(`(?i:(https?:)?//[a-z0-9.-]+\.[a-z]{2,})|@import|url\(`) // CSS url(), not JS URL()
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s refers elsewhere: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
