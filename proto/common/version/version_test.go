package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestGet(t *testing.T) {
	v := Get()
	if v.GoVersion != runtime.Version() || v.Version == "" {
		t.Fatalf("Get() = %+v", v)
	}
	s := v.String()
	if !strings.HasPrefix(s, "regionkv "+v.Version) || !strings.HasSuffix(s, v.GoVersion) {
		t.Fatalf("String() = %q", s)
	}
	withRev := Info{Version: "v1.2.3", Revision: "abc123", CommitTime: "2026-01-02T03:04:05Z", GoVersion: "go1.26"}
	if got := withRev.String(); got != "regionkv v1.2.3 (revision abc123, 2026-01-02T03:04:05Z) go1.26" {
		t.Fatalf("String() = %q", got)
	}
	if (Info{}).RevisionOrUnknown() != "unknown" {
		t.Fatal("an empty revision must read unknown")
	}
}

// TestBuildInfoMetric: regionkv_build_info is 1 with the build as labels.
func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfoCollector(Info{Version: "v1.2.3", GoVersion: "go1.26"}))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "regionkv_build_info" {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if m.GetGauge().GetValue() != 1 || labels["version"] != "v1.2.3" || labels["revision"] != "unknown" || labels["go_version"] != "go1.26" {
		t.Fatalf("build_info = %v %v", m.GetGauge().GetValue(), labels)
	}
}
