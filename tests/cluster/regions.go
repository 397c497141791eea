package cluster

import (
	"bytes"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// RegionOf returns the newest region holding key that any running store
// knows (highest version, then conf_ver): the test's stand-in for the
// scheduler's routing table. Without any, it returns the first region.
func (c *Cluster) RegionOf(key []byte) *metapb.Region {
	var best *metapb.Region
	for _, n := range c.Nodes {
		c.mu.Lock()
		up, s := n.up, n.Store
		c.mu.Unlock()
		if !up {
			continue
		}
		r := s.RegionForKey(key)
		if r == nil {
			continue
		}
		if best == nil || newerEpoch(r.RegionEpoch, best.RegionEpoch) {
			best = r
		}
	}
	if best == nil {
		return c.region
	}
	return best
}

func newerEpoch(a, b *metapb.RegionEpoch) bool {
	if a.GetVersion() != b.GetVersion() {
		return a.GetVersion() > b.GetVersion()
	}
	return a.GetConfVer() > b.GetConfVer()
}

func keyInRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (len(end) == 0 || bytes.Compare(key, end) < 0)
}
