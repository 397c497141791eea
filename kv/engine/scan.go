package engine

import "github.com/dgraph-io/badger/v3"

// ScanRaw calls fn for the internal keys of db that start with prefix, in
// order, from the first key >= from (from nil: the prefix's first key),
// until fn returns false or an error. key and val are valid only during
// the call: fn copies what it keeps (an Unmarshal does). Values are read
// one by one, not prefetched.
func (e *Engines) ScanRaw(db DB, prefix, from []byte, fn func(key, val []byte) (more bool, err error)) error {
	d := e.KV
	if db == DBRaft {
		d = e.Raft
	}
	return d.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		if from == nil {
			from = prefix
		}
		for it.Seek(from); it.Valid(); it.Next() {
			item := it.Item()
			var more bool
			err := item.Value(func(val []byte) error {
				var err error
				more, err = fn(item.Key(), val)
				return err
			})
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
		return nil
	})
}
