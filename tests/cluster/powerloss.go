package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v3"

	"github.com/regionkv/regionkv/kv/engine"
	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Power loss.
//
// Badger cannot drop the commits after its last sync, so the harness keeps
// what a power loss would leave: at every durable point of a store's kv DB
// (engine.Options.OnKVDurable: each SyncKV, each synced kv write) it copies
// the whole kv DB into memory. PowerLoss then crashes the store, deletes
// its kv dir and rebuilds it from that copy. The raft DB is kept as it is:
// it syncs every commit, so power loss takes nothing from it. Snapshot files
// are synced before they are renamed, and are kept too.
//
// The copy is taken right after the sync returns, so it may include commits
// made meanwhile by other goroutines; that is still a state power loss can
// leave (the OS may write pages back at any time), just not the harshest.
// What it can never include is less than was synced, and that is the
// property under test: the raft log, replayed from the durable applied
// index, rebuilds everything acknowledged.

type kvPair struct{ key, value []byte }

// checkpoint is the last durable state of one store's kv DB.
type checkpoint struct {
	mu    sync.Mutex
	pairs []kvPair
	taken int
	err   error
}

// take copies every key of db. It runs on the goroutine that synced.
func (cp *checkpoint) take(db *badger.DB) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var pairs []kvPair
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			pairs = append(pairs, kvPair{it.Item().KeyCopy(nil), v})
		}
		return nil
	})
	if err != nil {
		if cp.err == nil {
			cp.err = err
		}
		return
	}
	cp.pairs = pairs
	cp.taken++
}

// appliedIndex returns the applied index of a region in the checkpoint.
func (cp *checkpoint) appliedIndex(regionID uint64) uint64 {
	key := engine.ApplyStateKey(regionID)
	for _, p := range cp.pairs {
		if bytes.Equal(p.key, key) {
			var as rspb.RaftApplyState
			if as.Unmarshal(p.value) == nil {
				return as.AppliedIndex
			}
		}
	}
	return 0
}

func (c *Cluster) openEngines(n *Node) (*engine.Engines, error) {
	opts := engine.Options{MemTableSize: 8 << 20, BlockCacheSize: 8 << 20, Logger: c.opts.Logger,
		BeforeWrite: func(engine.DB) error {
			if n.fenced.Load() {
				return errCrashed
			}
			return nil
		}}
	var e *engine.Engines
	if c.opts.PowerLoss {
		// e is set before any store goroutine can sync.
		opts.OnKVDurable = func() { n.ckpt.take(e.KV) }
	}
	e, err := engine.Open(n.Dir, opts)
	return e, err
}

// PowerLossReport tells what one power loss took from a store's kv DB.
type PowerLossReport struct {
	// AppliedBefore is the first region's applied index seen shortly
	// before the crash; Durable the applied index the kv DB fell back to.
	AppliedBefore, Durable uint64
}

// Lost is how many applied entries the store must replay from its log.
func (r PowerLossReport) Lost() uint64 {
	if r.AppliedBefore > r.Durable {
		return r.AppliedBefore - r.Durable
	}
	return 0
}

// PowerLoss crashes store id (see Crash) and rolls its kv DB back to its
// last durable point. The store stays down; Restart brings it back. It
// needs Options.PowerLoss.
func (c *Cluster) PowerLoss(id uint64) PowerLossReport {
	c.t.Helper()
	if !c.opts.PowerLoss {
		c.t.Fatal("cluster: PowerLoss needs Options.PowerLoss")
	}
	n := c.node(id)
	var rep PowerLossReport
	if st, err := c.Status(id); err == nil {
		rep.AppliedBefore = st.Applied
	}
	c.Crash(id)
	n.ckpt.mu.Lock()
	defer n.ckpt.mu.Unlock()
	if n.ckpt.err != nil {
		c.t.Fatalf("store %d: kv checkpoint: %v", id, n.ckpt.err)
	}
	rep.Durable = n.ckpt.appliedIndex(FirstRegionID)
	if err := os.RemoveAll(filepath.Join(n.Dir, engine.KVDirName)); err != nil {
		c.t.Fatal(err)
	}
	e, err := c.openEngines(n)
	if err != nil {
		c.t.Fatalf("store %d: reopen after power loss: %v", id, err)
	}
	// Straight into badger: restoring is not a durable point of the store.
	wb := e.KV.NewWriteBatch()
	for _, p := range n.ckpt.pairs {
		if err := wb.Set(p.key, p.value); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		c.t.Fatalf("store %d: restore kv checkpoint: %v", id, err)
	}
	n.Engines = e
	return rep
}

// Checkpoints returns how many durable points store id's kv DB reached.
func (c *Cluster) Checkpoints(id uint64) int {
	n := c.node(id)
	n.ckpt.mu.Lock()
	defer n.ckpt.mu.Unlock()
	return n.ckpt.taken
}

// SetTickRate skews store id's clock (see raftstore.Store.SetTickRate).
func (c *Cluster) SetTickRate(id uint64, every int) {
	c.mu.Lock()
	n := c.node(id)
	up, s := n.up, n.Store
	c.mu.Unlock()
	if !up {
		panic(fmt.Sprintf("cluster: store %d is down", id))
	}
	s.SetTickRate(every)
}
