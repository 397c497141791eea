package replicacheck

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/metapb"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Kind names what a Violation breaks.
type Kind string

// The kinds of violation.
const (
	// Diverged: replicas at the same applied index hold different data.
	Diverged Kind = "diverged"
	// AppliedMismatch: a region's replicas are at different applied indexes
	// (after a settled, clean stop they must not be).
	AppliedMismatch Kind = "applied-index-mismatch"
	// EpochMismatch: a member's replica has another epoch, range or
	// membership than the region's newest, or two replicas share an epoch
	// but not a membership or range.
	EpochMismatch Kind = "epoch-mismatch"
	// MissingReplica: a store the region's newest membership names holds no
	// live replica of it.
	MissingReplica Kind = "missing-replica"
	// UnownedData: a store holds data outside every region it serves.
	UnownedData Kind = "unowned-data"
	// Overlap: two live regions of one store overlap.
	Overlap Kind = "overlapping-regions"
	// SnapshotUnfinished: a region is left in the middle of applying a
	// snapshot.
	SnapshotUnfinished Kind = "snapshot-unfinished"
	// MissingApplyState: a live region state without the apply state that
	// raftstore writes in the same batch.
	MissingApplyState Kind = "missing-apply-state"
)

// Violation is one thing found wrong, with what names it: the region (0 for
// a store-wide finding), the stores involved and a description that says
// which keys and indexes.
type Violation struct {
	Kind   Kind
	Region uint64
	Stores []uint64
	Detail string
}

func (v Violation) String() string {
	if v.Region == 0 {
		return fmt.Sprintf("%s: stores %v: %s", v.Kind, v.Stores, v.Detail)
	}
	return fmt.Sprintf("%s: region %d, stores %v: %s", v.Kind, v.Region, v.Stores, v.Detail)
}

// Result is what Check found.
type Result struct {
	Violations []Violation
	// Regions and Replicas count what was compared; Tombstones counts the
	// destroyed peers' region states (the stores' whose data was checked
	// for leftovers).
	Regions, Replicas, Tombstones int
	// Stale describes the replicas on stores their region's newest
	// membership no longer names (not compared).
	Stale []string
}

func (r Result) String() string {
	return fmt.Sprintf("%d regions, %d replicas compared, %d tombstones, %d stale replicas, %d violations",
		r.Regions, r.Replicas, r.Tombstones, len(r.Stale), len(r.Violations))
}

// Check compares the stores' replicas region by region and looks for data
// no region owns.
func Check(stores []*Store) Result {
	var res Result
	loaded := map[uint64]bool{}
	byRegion := map[uint64][]*Replica{}
	for _, s := range stores {
		loaded[s.ID] = true
		res.Violations = append(res.Violations, checkStore(s)...)
		for _, r := range s.Replicas {
			byRegion[r.Region.Id] = append(byRegion[r.Region.Id], r)
		}
		for _, d := range s.Dead {
			if d.State == rspb.PeerState_Tombstone {
				res.Tombstones++
			}
		}
	}
	ids := make([]uint64, 0, len(byRegion))
	for id := range byRegion {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		reps := byRegion[id]
		sort.Slice(reps, func(a, b int) bool { return reps[a].StoreID < reps[b].StoreID })
		checkRegion(&res, reps, loaded)
	}
	return res
}

// checkStore looks at one store alone: overlapping live regions,
// unfinished snapshots, unowned data.
func checkStore(s *Store) []Violation {
	var out []Violation
	reps := slices.Clone(s.Replicas)
	sort.Slice(reps, func(a, b int) bool { return bytes.Compare(reps[a].Region.StartKey, reps[b].Region.StartKey) < 0 })
	// By start key, each region against the one reaching farthest before it.
	for i := 1; i < len(reps); i++ {
		cur := reps[i].Region
		var far *metapb.Region
		for _, r := range reps[:i] {
			if far == nil || len(far.EndKey) > 0 && (len(r.Region.EndKey) == 0 || bytes.Compare(r.Region.EndKey, far.EndKey) > 0) {
				far = r.Region
			}
		}
		if len(far.EndKey) == 0 || bytes.Compare(cur.StartKey, far.EndKey) < 0 {
			out = append(out, Violation{Kind: Overlap, Region: cur.Id, Stores: []uint64{s.ID},
				Detail: fmt.Sprintf("region %d %s overlaps region %d %s", cur.Id, span(cur), far.Id, span(far))})
		}
	}
	for _, r := range reps {
		if !r.HasApplyState {
			out = append(out, Violation{Kind: MissingApplyState, Region: r.Region.Id, Stores: []uint64{s.ID},
				Detail: fmt.Sprintf("region %d %s (%s) has no apply state", r.Region.Id, span(r.Region), r.State)})
		}
		if r.State == rspb.PeerState_Applying {
			out = append(out, Violation{Kind: SnapshotUnfinished, Region: r.Region.Id, Stores: []uint64{s.ID},
				Detail: fmt.Sprintf("region %d %s is still applying a snapshot (applied %d)", r.Region.Id, span(r.Region), r.Applied)})
		}
	}
	if len(s.Unowned) > 0 {
		out = append(out, Violation{Kind: UnownedData, Stores: []uint64{s.ID}, Detail: describeUnowned(s)})
	}
	return out
}

// describeUnowned counts a store's unowned keys per CF and names the first
// few, with the dead region whose range holds each, if any.
func describeUnowned(s *Store) string {
	perCF := map[string]int{}
	for _, kv := range s.Unowned {
		perCF[kv.CF]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys outside every region the store serves (%v)", len(s.Unowned), perCF)
	for i, kv := range s.Unowned {
		if i == 3 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; %s key %q", kv.CF, trim(kv.Key))
		if d := s.deadOwner(kv.Key); d != nil {
			fmt.Fprintf(&b, " in the range of region %d %s (%s, epoch %s)", d.Region.Id, span(d.Region), d.State, epoch(d.Region))
		} else {
			b.WriteString(" in no region this store knows")
		}
	}
	return b.String()
}

// checkRegion compares one region's replicas (sorted by store).
func checkRegion(res *Result, reps []*Replica, loaded map[uint64]bool) {
	id := reps[0].Region.Id
	newest := reps[0]
	for _, r := range reps[1:] {
		if epochLess(newest.Region.RegionEpoch, r.Region.RegionEpoch) {
			newest = r
		}
	}
	nr := newest.Region
	var agree []*Replica // the replicas with the newest meta
	for _, r := range reps {
		switch {
		case sameMeta(r.Region, nr):
			agree = append(agree, r)
		case sameEpoch(r.Region, nr) || names(nr, r.StoreID):
			res.Violations = append(res.Violations, Violation{Kind: EpochMismatch, Region: id,
				Stores: []uint64{r.StoreID, newest.StoreID},
				Detail: fmt.Sprintf("store %d has %s, store %d has %s", r.StoreID, meta(r.Region), newest.StoreID, meta(nr))})
		default:
			res.Stale = append(res.Stale, fmt.Sprintf("region %d on store %d: %s (newest, on store %d: %s)",
				id, r.StoreID, meta(r.Region), newest.StoreID, meta(nr)))
		}
	}
	for _, p := range nr.Peers {
		if !slices.ContainsFunc(reps, func(r *Replica) bool { return r.StoreID == p.StoreId }) {
			why := "holds no live replica of it"
			if !loaded[p.StoreId] {
				why = "was not checked"
			}
			res.Violations = append(res.Violations, Violation{Kind: MissingReplica, Region: id,
				Stores: []uint64{p.StoreId, newest.StoreID},
				Detail: fmt.Sprintf("store %d (peer %d) %s; store %d has %s", p.StoreId, p.Id, why, newest.StoreID, meta(nr))})
		}
	}
	res.Regions++
	res.Replicas += len(agree)
	if len(agree) < 2 {
		return
	}
	// The reference is the copy most of them hold (the lowest store's on
	// a tie); every other copy is reported against it.
	count := map[[32]byte]int{}
	for _, m := range agree {
		count[m.Hash]++
	}
	ref := agree[0]
	for _, m := range agree {
		if count[m.Hash] > count[ref.Hash] {
			ref = m
		}
	}
	applied := ref.Applied
	for _, m := range agree {
		if m.Applied != applied {
			var idx []string
			for _, o := range agree {
				idx = append(idx, fmt.Sprintf("store %d applied %d (raft commit %d, last index %d)", o.StoreID, o.Applied, o.Commit, o.LastIndex))
			}
			res.Violations = append(res.Violations, Violation{Kind: AppliedMismatch, Region: id, Stores: storeIDs(agree),
				Detail: fmt.Sprintf("%s: %s; data: %s", span(nr), strings.Join(idx, ", "), compareAll(ref, agree))})
			return
		}
	}
	for _, m := range agree {
		if m.Hash != ref.Hash {
			res.Violations = append(res.Violations, Violation{Kind: Diverged, Region: id, Stores: []uint64{ref.StoreID, m.StoreID},
				Detail: fmt.Sprintf("%s at applied index %d on both: %s", span(nr), applied, firstDiff(ref, m))})
		}
	}
}

// compareAll says whether every replica's data equals ref's, and where each
// that does not first differs.
func compareAll(ref *Replica, reps []*Replica) string {
	var diffs []string
	for _, m := range reps {
		if m.Hash != ref.Hash {
			diffs = append(diffs, firstDiff(ref, m))
		}
	}
	if len(diffs) == 0 {
		return "identical on every replica"
	}
	return strings.Join(diffs, "; ")
}

// firstDiff describes the first key, in CF then key order, where b's data
// differs from a's.
func firstDiff(a, b *Replica) string {
	i, j := 0, 0
	for i < len(a.Data) || j < len(b.Data) {
		var c int
		switch {
		case i == len(a.Data):
			c = 1
		case j == len(b.Data):
			c = -1
		default:
			c = compareKV(a.Data[i], b.Data[j])
		}
		switch {
		case c < 0:
			kv := a.Data[i]
			return fmt.Sprintf("first differing key: %s %q: store %d has %q (applied %d), store %d has no such key (applied %d)",
				kv.CF, trim(kv.Key), a.StoreID, trim(kv.Value), a.Applied, b.StoreID, b.Applied)
		case c > 0:
			kv := b.Data[j]
			return fmt.Sprintf("first differing key: %s %q: store %d has no such key (applied %d), store %d has %q (applied %d)",
				kv.CF, trim(kv.Key), a.StoreID, a.Applied, b.StoreID, trim(kv.Value), b.Applied)
		case !bytes.Equal(a.Data[i].Value, b.Data[j].Value):
			kv := a.Data[i]
			return fmt.Sprintf("first differing key: %s %q: store %d has %q (applied %d), store %d has %q (applied %d)",
				kv.CF, trim(kv.Key), a.StoreID, trim(kv.Value), a.Applied, b.StoreID, trim(b.Data[j].Value), b.Applied)
		}
		i, j = i+1, j+1
	}
	return "no differing key (equal data)"
}

func compareKV(a, b KV) int {
	if c := cfIndex(a.CF) - cfIndex(b.CF); c != 0 {
		return c
	}
	return bytes.Compare(a.Key, b.Key)
}

// epochLess orders epochs by version (splits), then conf_ver.
func epochLess(a, b *metapb.RegionEpoch) bool {
	if a.GetVersion() != b.GetVersion() {
		return a.GetVersion() < b.GetVersion()
	}
	return a.GetConfVer() < b.GetConfVer()
}

func sameEpoch(a, b *metapb.Region) bool {
	return a.RegionEpoch.GetVersion() == b.RegionEpoch.GetVersion() && a.RegionEpoch.GetConfVer() == b.RegionEpoch.GetConfVer()
}

// sameMeta: same epoch, range and membership (in any order).
func sameMeta(a, b *metapb.Region) bool {
	return sameEpoch(a, b) && bytes.Equal(a.StartKey, b.StartKey) && bytes.Equal(a.EndKey, b.EndKey) &&
		slices.Equal(members(a), members(b))
}

// members lists a region's peers as peer@store, sorted.
func members(r *metapb.Region) []string {
	ps := make([]string, 0, len(r.Peers))
	for _, p := range r.Peers {
		ps = append(ps, fmt.Sprintf("%d@%d", p.Id, p.StoreId))
	}
	slices.Sort(ps)
	return ps
}

func storeIDs(reps []*Replica) []uint64 {
	out := make([]uint64, len(reps))
	for i, r := range reps {
		out[i] = r.StoreID
	}
	return out
}

// span prints a region's range; an empty bound is infinite.
func span(r *metapb.Region) string {
	end := fmt.Sprintf("%q", trim(r.EndKey))
	if len(r.EndKey) == 0 {
		end = "+inf"
	}
	return fmt.Sprintf("[%q, %s)", trim(r.StartKey), end)
}

func epoch(r *metapb.Region) string {
	return fmt.Sprintf("v%d/cv%d", r.RegionEpoch.GetVersion(), r.RegionEpoch.GetConfVer())
}

// meta prints a region's epoch, range and members (peer@store).
func meta(r *metapb.Region) string {
	return fmt.Sprintf("epoch %s %s peers [%s]", epoch(r), span(r), strings.Join(members(r), " "))
}

// trim shortens a key or value for a message.
func trim(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("...(%d bytes)", len(b))
	}
	return string(b)
}
