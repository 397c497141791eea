package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/scheduler/client/httpapi"
	"github.com/regionkv/regionkv/scheduler/dashboard"
	"github.com/regionkv/regionkv/scheduler/schedulers"
)

// Prefix is the path prefix of every endpoint.
const Prefix = "/api/v1"

// ErrBadRequest marks errors caused by the request; backends wrap it so
// the handler answers 400 rather than 500.
var ErrBadRequest = errors.New("api: bad request")

type handler struct {
	b      Backend
	logger *zap.Logger
}

// NewHandler returns the API's HTTP handler.
func NewHandler(b Backend, logger *zap.Logger) http.Handler {
	h := &handler{b: b, logger: logger}
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"/health", h.health)
	m.HandleFunc("GET "+Prefix+"/members", h.members)
	m.HandleFunc("GET "+Prefix+"/cluster", h.leader(h.cluster))
	m.HandleFunc("GET "+Prefix+"/stores", h.leader(h.stores))
	m.HandleFunc("GET "+Prefix+"/stores/{id}", h.leader(h.store))
	m.HandleFunc("POST "+Prefix+"/stores/{id}/state", h.leader(h.storeState))
	m.HandleFunc("POST "+Prefix+"/stores/{id}/weight", h.leader(h.storeWeight))
	m.HandleFunc("GET "+Prefix+"/regions", h.leader(h.regions))
	m.HandleFunc("GET "+Prefix+"/regions/key/{key}", h.leader(h.regionByKey))
	m.HandleFunc("GET "+Prefix+"/regions/{id}", h.leader(h.region))
	m.HandleFunc("POST "+Prefix+"/regions/{id}/scatter", h.leader(h.scatterRegion))
	m.HandleFunc("GET "+Prefix+"/operators", h.leader(h.operators))
	m.HandleFunc("GET "+Prefix+"/operators/{region}", h.leader(h.operator))
	m.HandleFunc("POST "+Prefix+"/operators", h.leader(h.addOperator))
	m.HandleFunc("DELETE "+Prefix+"/operators/{region}", h.leader(h.cancelOperator))
	m.HandleFunc("GET "+Prefix+"/schedulers", h.leader(h.schedulers))
	m.HandleFunc("POST "+Prefix+"/schedulers", h.leader(h.addScheduler))
	m.HandleFunc("DELETE "+Prefix+"/schedulers/{name}", h.leader(h.removeScheduler))
	m.HandleFunc("POST "+Prefix+"/schedulers/{name}/pause", h.leader(h.pauseScheduler))
	m.HandleFunc("GET "+Prefix+"/config", h.leader(h.config))
	m.HandleFunc("POST "+Prefix+"/config", h.leader(h.setConfig))
	m.HandleFunc("GET "+Prefix+"/config/running", h.runningConfig)
	m.HandleFunc("GET "+Prefix+"/metrics/targets", h.metricsTargets)
	m.HandleFunc("GET "+Prefix+"/keyviz", h.leader(h.keyViz))
	m.HandleFunc("GET "+Prefix+"/hotspot/regions/{kind}", h.leader(h.hotRegions))
	m.HandleFunc("GET "+Prefix+"/hotspot/stores", h.leader(h.hotStores))
	dashboard.Register(m)
	return m
}

type errorBody struct {
	Error string `json:"error"`
	// Code is machine-readable where clients act on the error
	// (httpapi.CodeNotLeader).
	Code   string      `json:"code,omitempty"`
	Leader *MemberView `json:"leader,omitempty"`
}

// writeJSON answers v indented, for people reading it.
func writeJSON(w http.ResponseWriter, code int, v any) { encodeJSON(w, code, v, "  ") }

// writeCompactJSON answers v without indentation, for large answers.
func writeCompactJSON(w http.ResponseWriter, code int, v any) { encodeJSON(w, code, v, "") }

func encodeJSON(w http.ResponseWriter, code int, v any, indent string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

func errCode(err error) int {
	if errors.Is(err, ErrBadRequest) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// leader wraps an endpoint that only the leader answers; other members
// answer 503 naming the leader.
func (h *handler) leader(fn func(http.ResponseWriter, *http.Request, Leader)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := h.b.Leader()
		if l == nil {
			_, leader, _ := h.b.Members(r.Context())
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not leader", Code: httpapi.CodeNotLeader, Leader: memberView(leader)})
			return
		}
		fn(w, r, l)
	}
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"healthy": true, "leader": h.b.Leader() != nil})
}

// ClusterView is the cluster at a glance.
type ClusterView struct {
	ClusterID   uint64         `json:"cluster-id"`
	Leader      *MemberView    `json:"leader"`
	Stores      map[string]int `json:"stores"` // by state
	Regions     int            `json:"regions"`
	MaxReplicas int            `json:"max-replicas"`
}

func (h *handler) cluster(w http.ResponseWriter, r *http.Request, l Leader) {
	_, leader, _ := h.b.Members(r.Context())
	v := ClusterView{ClusterID: h.b.ClusterID(), Leader: memberView(leader), Stores: map[string]int{},
		Regions: l.RegionCount(), MaxReplicas: l.Schedule().MaxReplicas}
	now, th := l.StoreOptions()
	for _, s := range l.Stores() {
		v.Stores[s.State(now, th).String()]++
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) members(w http.ResponseWriter, r *http.Request) {
	ms, leader, err := h.b.Members(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	out := struct {
		Members []*MemberView `json:"members"`
		Leader  *MemberView   `json:"leader"`
	}{Leader: memberView(leader)}
	for _, m := range ms {
		out.Members = append(out.Members, memberView(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func pathID(w http.ResponseWriter, r *http.Request, name string) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue(name), 10, 64)
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%s must be a number", name))
		return 0, false
	}
	return id, true
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("bad JSON body: %v", err))
		return false
	}
	return true
}

func (h *handler) stores(w http.ResponseWriter, _ *http.Request, l Leader) {
	now, th := l.StoreOptions()
	out := []StoreView{}
	for _, s := range l.Stores() {
		out = append(out, storeView(s, now, th))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "stores": out})
}

func (h *handler) store(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	s := l.Store(id)
	if s == nil {
		writeErr(w, http.StatusNotFound, fmt.Errorf("store %d not found", id))
		return
	}
	now, th := l.StoreOptions()
	writeJSON(w, http.StatusOK, storeView(s, now, th))
}

func (h *handler) storeState(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	var body struct {
		State string `json:"state"`
	}
	if !decode(w, r, &body) {
		return
	}
	st, ok := metapb.StoreState_value[body.State]
	if !ok {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("state must be Up, Offline or Tombstone"))
		return
	}
	if err := l.SetStoreState(r.Context(), id, metapb.StoreState(st)); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	h.store(w, r, l)
}

func (h *handler) storeWeight(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	var body struct {
		Leader float64 `json:"leader"`
		Region float64 `json:"region"`
	}
	if !decode(w, r, &body) {
		return
	}
	if err := l.SetStoreWeight(id, body.Leader, body.Region); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	h.store(w, r, l)
}

func hexParam(r *http.Request, name string) ([]byte, error) {
	b, err := hex.DecodeString(r.URL.Query().Get(name))
	if err != nil {
		return nil, fmt.Errorf("%s must be hex: %v", name, err)
	}
	return b, nil
}

func (h *handler) regions(w http.ResponseWriter, r *http.Request, l Leader) {
	start, err := hexParam(r, "start")
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	end, err := hexParam(r, "end")
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("limit must be a number"))
			return
		}
	}
	out := []RegionView{}
	for _, reg := range l.Regions(start, end, limit) {
		out = append(out, regionView(reg))
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(out), "total": l.RegionCount(), "regions": out})
}

func (h *handler) region(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	reg := l.Region(id)
	if reg == nil {
		writeErr(w, http.StatusNotFound, fmt.Errorf("region %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, regionView(reg))
}

func (h *handler) scatterRegion(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "id")
	if !ok {
		return
	}
	if err := l.ScatterRegion(id); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	v, _ := l.Operator(id)
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) regionByKey(w http.ResponseWriter, r *http.Request, l Leader) {
	key, err := hex.DecodeString(r.PathValue("key"))
	if err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("key must be hex"))
		return
	}
	reg := l.RegionByKey(key)
	if reg == nil {
		writeErr(w, http.StatusNotFound, fmt.Errorf("no region holds key %x", key))
		return
	}
	writeJSON(w, http.StatusOK, regionView(reg))
}

func (h *handler) operators(w http.ResponseWriter, _ *http.Request, l Leader) {
	writeJSON(w, http.StatusOK, l.Operators())
}

func (h *handler) operator(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "region")
	if !ok {
		return
	}
	v, ok := l.Operator(id)
	if !ok {
		writeErr(w, http.StatusNotFound, fmt.Errorf("region %d has no operator", id))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) addOperator(w http.ResponseWriter, r *http.Request, l Leader) {
	var req OperatorRequest
	if !decode(w, r, &req) {
		return
	}
	if err := l.AddOperator(r.Context(), req); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	v, _ := l.Operator(req.RegionID)
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) cancelOperator(w http.ResponseWriter, r *http.Request, l Leader) {
	id, ok := pathID(w, r, "region")
	if !ok {
		return
	}
	if !l.CancelOperator(id) {
		writeErr(w, http.StatusNotFound, fmt.Errorf("region %d has no running operator", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"canceled": strconv.FormatUint(id, 10)})
}

func (h *handler) schedulers(w http.ResponseWriter, _ *http.Request, l Leader) {
	writeJSON(w, http.StatusOK, map[string]any{"running": l.Schedulers(), "available": l.AvailableSchedulers()})
}

func (h *handler) addScheduler(w http.ResponseWriter, r *http.Request, l Leader) {
	var body struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &body) {
		return
	}
	if err := l.AddScheduler(r.Context(), body.Name); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	h.schedulers(w, r, l)
}

func (h *handler) removeScheduler(w http.ResponseWriter, r *http.Request, l Leader) {
	if err := l.RemoveScheduler(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	h.schedulers(w, r, l)
}

func (h *handler) pauseScheduler(w http.ResponseWriter, r *http.Request, l Leader) {
	var body struct {
		Seconds float64 `json:"seconds"`
	}
	if !decode(w, r, &body) {
		return
	}
	// Checked before converting: a huge number of seconds overflows a
	// time.Duration into a negative one, which would resume instead.
	if maxSec := schedulers.MaxPause.Seconds(); !(body.Seconds >= 0 && body.Seconds <= maxSec) {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("seconds must be in [0, %.0f], got %v", maxSec, body.Seconds))
		return
	}
	if err := l.PauseScheduler(r.PathValue("name"), time.Duration(body.Seconds*float64(time.Second))); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	h.schedulers(w, r, l)
}

func (h *handler) config(w http.ResponseWriter, _ *http.Request, l Leader) {
	writeJSON(w, http.StatusOK, l.Schedule())
}

// setConfig changes every key of the body or none.
func (h *handler) setConfig(w http.ResponseWriter, r *http.Request, l Leader) {
	var body map[string]json.RawMessage
	if !decode(w, r, &body) {
		return
	}
	if err := l.SetSchedule(r.Context(), body); err != nil {
		writeErr(w, errCode(err), err)
		return
	}
	writeJSON(w, http.StatusOK, l.Schedule())
}
