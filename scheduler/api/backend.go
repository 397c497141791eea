// Package api is the scheduler's HTTP JSON API for ctl and people. It only
// translates HTTP to calls on the narrow interfaces below; the server
// implements them. Keys in URLs and JSON are hex-encoded.
package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/client/httpapi"
	"github.com/regionkv/regionkv/scheduler/cluster"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/keyviz"
	"github.com/regionkv/regionkv/scheduler/operator"
	"github.com/regionkv/regionkv/scheduler/schedulers"
)

// Backend is what every member can answer.
type Backend interface {
	Members(ctx context.Context) (members []*pdpb.Member, leader *pdpb.Member, err error)
	// ClusterID is the cluster's ID.
	ClusterID() uint64
	// Leader returns the leader's API, or nil when this member does not lead.
	Leader() Leader
	// StoreRecords reads every store's record from storage.
	StoreRecords(ctx context.Context) ([]*metapb.Store, error)
	// RunningConfig is this member's configuration as it runs, keyed as in
	// its config file.
	RunningConfig() (map[string]any, error)
}

// Leader is what only the leader can answer.
type Leader interface {
	StoreAPI
	RegionAPI
	OperatorAPI
	SchedulerAPI
	ConfigAPI
	KeyVizAPI
	HotAPI
}

// StoreAPI reads and changes stores.
type StoreAPI interface {
	Stores() []*cluster.StoreInfo
	Store(id uint64) *cluster.StoreInfo
	SetStoreState(ctx context.Context, id uint64, state metapb.StoreState) error
	SetStoreWeight(id uint64, leader, region float64) error
	StoreOptions() (now time.Time, th cluster.Thresholds)
}

// RegionAPI reads regions.
type RegionAPI interface {
	Region(id uint64) *cluster.RegionInfo
	RegionByKey(key []byte) *cluster.RegionInfo
	Regions(start, end []byte, limit int) []*cluster.RegionInfo
	RegionCount() int
	// ScatterRegion adds an operator moving the region's replicas to the
	// stores holding the fewest regions.
	ScatterRegion(id uint64) error
}

// OperatorRequest asks for an operator by hand.
type OperatorRequest struct {
	// Name: transfer-leader, add-peer, remove-peer, move-peer, split.
	Name      string   `json:"name"`
	RegionID  uint64   `json:"region-id"`
	FromStore uint64   `json:"from-store,omitempty"`
	ToStore   uint64   `json:"to-store,omitempty"`
	SplitKeys []string `json:"split-keys,omitempty"` // hex
}

// OperatorAPI lists, adds and cancels operators.
type OperatorAPI interface {
	Operators() []operator.View
	Operator(regionID uint64) (operator.View, bool)
	AddOperator(ctx context.Context, req OperatorRequest) error
	CancelOperator(regionID uint64) bool
}

// SchedulerAPI manages the balance schedulers at run time.
type SchedulerAPI interface {
	Schedulers() []schedulers.Status
	AvailableSchedulers() []string
	AddScheduler(ctx context.Context, name string) error
	RemoveScheduler(ctx context.Context, name string) error
	PauseScheduler(name string, d time.Duration) error
}

// ConfigAPI shows and sets the schedule config.
type ConfigAPI interface {
	Schedule() config.Schedule
	// SetSchedule changes the knobs named in changes (JSON values), all or
	// none.
	SetSchedule(ctx context.Context, changes map[string]json.RawMessage) error
}

// KeyVizAPI answers the key visualizer's heatmaps.
type KeyVizAPI interface {
	// KeyViz answers q; errors wrapping keyviz.ErrBadQuery are the
	// caller's.
	KeyViz(q keyviz.Query) (*keyviz.Matrix, error)
	// KeyVizConfig is the history's bounds.
	KeyVizConfig() keyviz.Config
}

// StoreView is defined with the API's client (httpapi), the one
// schema both sides use.
type StoreView = httpapi.StoreView

func storeView(s *cluster.StoreInfo, now time.Time, th cluster.Thresholds) StoreView {
	v := StoreView{
		ID: s.ID(), Address: s.Meta.Address, State: s.State(now, th).String(), MetaState: s.Meta.State.String(),
		LeaderCount: s.LeaderCount, RegionCount: s.RegionCount, RegionSize: s.RegionSize,
		LeaderWeight: s.LeaderWeight, RegionWeight: s.RegionWeight,
		Capacity: s.Stats.GetCapacity(), Available: s.Stats.GetAvailable(), Busy: s.IsBusy(),
		LastHeartbeat: s.LastHeartbeat.Format(time.RFC3339Nano),
		Version:       s.Meta.Version, Revision: s.Meta.GitHash, StatusAddress: s.Meta.StatusAddress,
	}
	if ts := s.Meta.StartTimestamp; ts > 0 {
		v.StartTime = time.Unix(ts, 0).UTC().Format(time.RFC3339)
	}
	return v
}

// PeerView is defined with the API's client (httpapi), the one
// schema both sides use.
type PeerView = httpapi.PeerView

// RegionView is defined with the API's client (httpapi), the one
// schema both sides use.
type RegionView = httpapi.RegionView

func peerView(p *metapb.Peer) PeerView {
	return PeerView{ID: p.Id, StoreID: p.StoreId, Role: p.Role.String()}
}

func regionView(r *cluster.RegionInfo) RegionView {
	v := RegionView{
		ID: r.ID(), StartKey: hex.EncodeToString(r.StartKey()), EndKey: hex.EncodeToString(r.EndKey()),
		ConfVer: r.Epoch().ConfVer, Version: r.Epoch().Version,
		ApproximateSize: r.ApproximateSize, ApproximateKeys: r.ApproximateKeys,
		WrittenBytes: r.BytesWritten, ReadBytes: r.BytesRead, WrittenKeys: r.KeysWritten, ReadKeys: r.KeysRead,
	}
	for _, p := range r.Peers() {
		v.Peers = append(v.Peers, peerView(p))
	}
	if l := r.Leader(); l != nil {
		pv := peerView(l)
		v.Leader = &pv
	}
	for _, d := range r.DownPeers() {
		if d.Peer != nil {
			v.DownPeers = append(v.DownPeers, peerView(d.Peer))
		}
	}
	for _, p := range r.PendingPeers() {
		v.PendingPeers = append(v.PendingPeers, peerView(p))
	}
	return v
}

// MemberView is a scheduler member as the API shows it.
type MemberView struct {
	Name       string   `json:"name"`
	MemberID   uint64   `json:"member-id"`
	ClientURLs []string `json:"client-urls"`
	PeerURLs   []string `json:"peer-urls,omitempty"`
}

func memberView(m *pdpb.Member) *MemberView {
	if m == nil {
		return nil
	}
	return &MemberView{Name: m.Name, MemberID: m.MemberId, ClientURLs: m.ClientUrls, PeerURLs: m.PeerUrls}
}

// KeyVizView is a key visualizer heatmap as GET /api/v1/keyviz answers it:
// Values[c][r] is the metric's total during column c, the time
// [Times[c], Times[c] + ColumnSeconds), over the key range [Keys[r],
// Keys[r+1]). Keys are hex; the first is empty for -infinity, the last for
// +infinity.
type KeyVizView struct {
	Metric        string     `json:"metric"`
	ColumnSeconds float64    `json:"column-seconds"`
	Times         []int64    `json:"times"` // unix seconds
	OpenColumn    int        `json:"open-column"`
	Keys          []string   `json:"keys"`
	Values        [][]uint64 `json:"values"`
	Max           uint64     `json:"max"`
	// RetainedFrom is the start of the oldest data held (unix seconds, 0
	// when none); RetentionSeconds the longest window a query may ask for.
	RetainedFrom     int64 `json:"retained-from"`
	RetentionSeconds int64 `json:"retention-seconds"`
}

func keyVizView(m *keyviz.Matrix, cfg keyviz.Config) KeyVizView {
	v := KeyVizView{Metric: m.Metric.String(), ColumnSeconds: m.ColumnWidth.Seconds(), OpenColumn: m.Open,
		Values: m.Values, Max: m.Max, RetentionSeconds: int64(cfg.Retention / time.Second)}
	if !m.RetainedFrom.IsZero() {
		v.RetainedFrom = m.RetainedFrom.Unix()
	}
	v.Times = make([]int64, len(m.Values))
	for c := range v.Times {
		v.Times[c] = m.From.Add(time.Duration(c) * m.ColumnWidth).Unix()
	}
	v.Keys = make([]string, len(m.Keys))
	for i, k := range m.Keys {
		v.Keys[i] = hex.EncodeToString(k)
	}
	return v
}
