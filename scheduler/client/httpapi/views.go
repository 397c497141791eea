package httpapi

// The JSON views the API answers with, shared by the scheduler (which
// fills them) and its clients.

// StoreView is a store as the API shows it.
type StoreView struct {
	ID            uint64  `json:"id"`
	Address       string  `json:"address"`
	State         string  `json:"state"`
	MetaState     string  `json:"meta-state"`
	LeaderCount   int     `json:"leader-count"`
	RegionCount   int     `json:"region-count"`
	RegionSize    int64   `json:"region-size-mib"`
	LeaderWeight  float64 `json:"leader-weight"`
	RegionWeight  float64 `json:"region-weight"`
	Capacity      uint64  `json:"capacity"`
	Available     uint64  `json:"available"`
	Busy          bool    `json:"busy"`
	LastHeartbeat string  `json:"last-heartbeat"`
	// What the store registered: its build, HTTP status address (/metrics,
	// /health) and start time (RFC 3339; empty when unknown).
	Version       string `json:"version,omitempty"`
	Revision      string `json:"revision,omitempty"`
	StatusAddress string `json:"status-address,omitempty"`
	StartTime     string `json:"start-time,omitempty"`
}

// PeerView is a peer as the API shows it.
type PeerView struct {
	ID      uint64 `json:"id"`
	StoreID uint64 `json:"store-id"`
	Role    string `json:"role"`
}

// RegionView is a region as the API shows it.
type RegionView struct {
	ID              uint64     `json:"id"`
	StartKey        string     `json:"start-key"`
	EndKey          string     `json:"end-key"`
	ConfVer         uint64     `json:"conf-ver"`
	Version         uint64     `json:"version"`
	Peers           []PeerView `json:"peers"`
	Leader          *PeerView  `json:"leader,omitempty"`
	DownPeers       []PeerView `json:"down-peers,omitempty"`
	PendingPeers    []PeerView `json:"pending-peers,omitempty"`
	ApproximateSize uint64     `json:"approximate-size"`
	ApproximateKeys uint64     `json:"approximate-keys"`
	// Traffic in the leader's last heartbeat period.
	WrittenBytes uint64 `json:"written-bytes"`
	ReadBytes    uint64 `json:"read-bytes"`
	WrittenKeys  uint64 `json:"written-keys"`
	ReadKeys     uint64 `json:"read-keys"`
}
