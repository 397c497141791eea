package api

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/regionkv/regionkv/scheduler/hot"
)

// HotAPI reads the load statistics (package hot).
type HotAPI interface {
	// HotRegions is every region whose load is known.
	HotRegions() []hot.RegionStat
	// HotStores is every store's load.
	HotStores() []hot.StoreStat
}

// Rates are one kind's smoothed rates, per second.
type Rates struct {
	Bytes   float64 `json:"bytes"`
	Keys    float64 `json:"keys"`
	Queries float64 `json:"queries"`
}

func ratesOf(l hot.Loads, k hot.Kind) Rates {
	return Rates{Bytes: l[k][hot.Bytes], Keys: l[k][hot.Keys], Queries: l[k][hot.Queries]}
}

// HotRegionView is one region's load of one kind.
type HotRegionView struct {
	RegionID    uint64   `json:"region-id"`
	LeaderStore uint64   `json:"leader-store"`
	Stores      []uint64 `json:"stores"`
	StartKey    string   `json:"start-key"`
	EndKey      string   `json:"end-key"`
	Rates
	// HotDegree is how many heartbeats in a row found the region at or
	// above the hot minimum; Hot is whether that is enough.
	HotDegree int    `json:"hot-degree"`
	Hot       bool   `json:"hot"`
	Updated   string `json:"updated"`
}

// HotRegionsView answers GET /api/v1/hotspot/regions/{read,write}.
type HotRegionsView struct {
	Kind string `json:"kind"`
	By   string `json:"by"`
	// Total is the number of regions that matched, before the limit.
	Total   int             `json:"total"`
	Regions []HotRegionView `json:"regions"`
}

// StoreLoadView is one store's load.
type StoreLoadView struct {
	StoreID uint64 `json:"store-id"`
	// As leader: the regions it leads. Write peer: the writes of every
	// region it holds a replica of.
	ReadLeader  Rates `json:"read-leader"`
	WriteLeader Rates `json:"write-leader"`
	WritePeer   Rates `json:"write-peer"`
	// What the store's own heartbeats report (every key its peers applied
	// or read), smoothed.
	ReportedRead  Rates `json:"reported-read"`
	ReportedWrite Rates `json:"reported-write"`
	// Hot regions it leads, and (writes) holds.
	HotReadLeaders  int `json:"hot-read-leaders"`
	HotWriteLeaders int `json:"hot-write-leaders"`
	HotWritePeers   int `json:"hot-write-peers"`
}

// maxHotLimit bounds the regions one answer lists.
const maxHotLimit = 10000

// hotRegions answers GET /api/v1/hotspot/regions/{kind}: the hot regions of
// kind (read or write), the highest rate first.
//
//	by     bytes (default), keys or queries: the rate to sort by
//	limit  the most regions listed (default 20, at most 10000)
//	all    1: every region with a known load, hot or not
func (h *handler) hotRegions(w http.ResponseWriter, r *http.Request, l Leader) {
	var kind hot.Kind
	switch k := r.PathValue("kind"); k {
	case "read":
		kind = hot.Read
	case "write":
		kind = hot.Write
	default:
		writeErr(w, http.StatusNotFound, fmt.Errorf("no hotspot kind %q: read or write", k))
		return
	}
	q := r.URL.Query()
	by := hot.Bytes
	if s := q.Get("by"); s != "" {
		var ok bool
		if by, ok = hot.ParseDim(s); !ok {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("by must be bytes, keys or queries, got %q", s))
			return
		}
	}
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxHotLimit {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be a number in [1, %d], got %q", maxHotLimit, s))
			return
		}
		limit = n
	}
	all := false
	if s := q.Get("all"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("all must be true or false, got %q", s))
			return
		}
		all = b
	}
	var rs []hot.RegionStat
	for _, st := range l.HotRegions() {
		if all || st.Hot[kind] {
			rs = append(rs, st)
		}
	}
	hot.SortBy(rs, kind, by)
	out := HotRegionsView{Kind: kind.String(), By: by.String(), Total: len(rs), Regions: []HotRegionView{}}
	for i, st := range rs {
		if i == limit {
			break
		}
		out.Regions = append(out.Regions, HotRegionView{
			RegionID: st.RegionID, LeaderStore: st.LeaderStore, Stores: st.Stores,
			StartKey: hex.EncodeToString(st.StartKey), EndKey: hex.EncodeToString(st.EndKey),
			Rates: ratesOf(st.Loads, kind), HotDegree: st.Degree[kind], Hot: st.Hot[kind],
			Updated: st.Updated.Format(time.RFC3339Nano),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// hotStores answers GET /api/v1/hotspot/stores: every store's load.
func (h *handler) hotStores(w http.ResponseWriter, _ *http.Request, l Leader) {
	out := []StoreLoadView{}
	for _, s := range l.HotStores() {
		out = append(out, StoreLoadView{
			StoreID:    s.StoreID,
			ReadLeader: ratesOf(s.Leader, hot.Read), WriteLeader: ratesOf(s.Leader, hot.Write),
			WritePeer:    ratesOf(s.Peer, hot.Write),
			ReportedRead: ratesOf(s.Reported, hot.Read), ReportedWrite: ratesOf(s.Reported, hot.Write),
			HotReadLeaders: s.HotLeaders[hot.Read], HotWriteLeaders: s.HotLeaders[hot.Write],
			HotWritePeers: s.HotPeers[hot.Write],
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"stores": out})
}
