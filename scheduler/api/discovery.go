package api

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// TargetGroup is one entry of Prometheus's HTTP service discovery: the
// addresses to scrape (/metrics on each) and the labels they get.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// metricsTargets answers Prometheus's HTTP service discovery
// (http_sd_configs) with every scheduler member's address and every store's
// status address, so that one scrape config follows the cluster as stores
// come and go. Any member answers, from the stores' records in etcd;
// Tombstone stores and stores that registered no status address are left
// out.
func (h *handler) metricsTargets(w http.ResponseWriter, r *http.Request) {
	out := []TargetGroup{}
	members, _, err := h.b.Members(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	for _, m := range members {
		for _, cu := range m.ClientUrls {
			u, err := url.Parse(cu)
			if err != nil || u.Host == "" {
				continue
			}
			out = append(out, TargetGroup{Targets: []string{u.Host},
				Labels: map[string]string{"component": "scheduler", "member": m.Name}})
		}
	}
	stores, err := h.b.StoreRecords(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Id < stores[j].Id })
	for _, s := range stores {
		if s.State == metapb.StoreState_Tombstone || s.StatusAddress == "" {
			continue
		}
		out = append(out, TargetGroup{Targets: []string{s.StatusAddress}, Labels: map[string]string{
			"component": "store", "store_id": strconv.FormatUint(s.Id, 10), "store_address": s.Address}})
	}
	writeJSON(w, http.StatusOK, out)
}

// runningConfig shows this member's configuration as it runs.
func (h *handler) runningConfig(w http.ResponseWriter, _ *http.Request) {
	cfg, err := h.b.RunningConfig()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}
