// Package version tells which build of regionkv is running: the module
// version, the VCS revision when the build recorded it, and the Go version.
// Servers log it at start, export it as regionkv_build_info, register it
// with the scheduler, and `regionkv version` prints it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Info describes one build.
type Info struct {
	// Version is the main module's version: a tag or pseudo-version when
	// built by `go install module@version`, "(devel)" in a checkout.
	Version string `json:"version"`
	// Revision is the VCS commit, with a "-dirty" suffix when the tree had
	// changes; empty when the build did not record it (-buildvcs=false,
	// or not built from a checkout).
	Revision string `json:"revision,omitempty"`
	// CommitTime is the commit's time (RFC 3339), when recorded.
	CommitTime string `json:"commit-time,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go-version"`
}

// Get reads the build information the Go toolchain embedded in the binary.
func Get() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "" {
		info.Revision += "-dirty"
	}
	return info
}

// String is the one-line form `regionkv --version` prints.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "regionkv %s", i.Version)
	if i.Revision != "" {
		fmt.Fprintf(&b, " (revision %s", i.Revision)
		if i.CommitTime != "" {
			fmt.Fprintf(&b, ", %s", i.CommitTime)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " %s", i.GoVersion)
	return b.String()
}

// RevisionOrUnknown is Revision, or "unknown" when the build lacks it, for
// places where an empty value would read as a bug.
func (i Info) RevisionOrUnknown() string {
	if i.Revision == "" {
		return "unknown"
	}
	return i.Revision
}

// NewBuildInfoCollector returns the regionkv_build_info gauge: always 1,
// with the build as labels, so that dashboards can show and join on the
// version each server runs.
func NewBuildInfoCollector(i Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "regionkv", Name: "build_info",
		Help:        "Always 1; the labels say which build of regionkv is running.",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.RevisionOrUnknown(), "go_version": i.GoVersion},
	})
	g.Set(1)
	return g
}
