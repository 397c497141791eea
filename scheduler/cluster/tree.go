package cluster

import (
	"bytes"

	"github.com/google/btree"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
)

// regionTree orders regions by start key. Invariant: the regions in the tree
// do not overlap.
type regionTree struct {
	t *btree.BTreeG[*RegionInfo]
}

func lessByStart(a, b *RegionInfo) bool { return bytes.Compare(a.StartKey(), b.StartKey()) < 0 }

func newRegionTree() *regionTree {
	return &regionTree{t: btree.NewG(32, lessByStart)}
}

func (t *regionTree) len() int { return t.t.Len() }

// probe is a RegionInfo holding only a start key, for searches.
func probe(key []byte) *RegionInfo {
	return &RegionInfo{meta: &metapb.Region{StartKey: key}}
}

// overlaps returns the regions in the tree that overlap r.
func (t *regionTree) overlaps(r *RegionInfo) []*RegionInfo {
	var out []*RegionInfo
	// The region starting at or before r's start may reach into r.
	if prev := t.search(r.StartKey()); prev != nil {
		out = append(out, prev)
	}
	t.t.AscendGreaterOrEqual(probe(r.StartKey()), func(o *RegionInfo) bool {
		if len(r.EndKey()) > 0 && bytes.Compare(o.StartKey(), r.EndKey()) >= 0 {
			return false
		}
		if len(out) == 0 || out[len(out)-1] != o {
			out = append(out, o)
		}
		return true
	})
	return out
}

// put inserts r, replacing the item with the same start key.
func (t *regionTree) put(r *RegionInfo) { t.t.ReplaceOrInsert(r) }

// remove deletes r if r itself (not just its start key) is in the tree.
func (t *regionTree) remove(r *RegionInfo) {
	if cur, ok := t.t.Get(r); ok && cur.ID() == r.ID() {
		t.t.Delete(r)
	}
}

// search returns the region containing key, or nil.
func (t *regionTree) search(key []byte) *RegionInfo {
	var found *RegionInfo
	t.t.DescendLessOrEqual(probe(key), func(r *RegionInfo) bool {
		found = r
		return false
	})
	if found == nil || !found.Contains(key) {
		return nil
	}
	return found
}

// searchPrev returns the region just before the one containing key.
func (t *regionTree) searchPrev(key []byte) *RegionInfo {
	cur := t.search(key)
	if cur == nil || len(cur.StartKey()) == 0 {
		return nil
	}
	var prev *RegionInfo
	t.t.DescendLessOrEqual(probe(cur.StartKey()), func(r *RegionInfo) bool {
		if r == cur {
			return true
		}
		prev = r
		return false
	})
	if prev == nil || !bytes.Equal(prev.EndKey(), cur.StartKey()) {
		return nil
	}
	return prev
}

// scan calls fn for regions overlapping [start, end) in key order until fn
// returns false; an empty end is +infinity.
func (t *regionTree) scan(start, end []byte, fn func(*RegionInfo) bool) {
	if first := t.search(start); first != nil && !bytes.Equal(first.StartKey(), start) {
		if !fn(first) {
			return
		}
	}
	t.t.AscendGreaterOrEqual(probe(start), func(r *RegionInfo) bool {
		if len(end) > 0 && bytes.Compare(r.StartKey(), end) >= 0 {
			return false
		}
		return fn(r)
	})
}
