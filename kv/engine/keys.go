package engine

import (
	"encoding/binary"
	"fmt"
)

// Key layout. Every key in both badger DBs starts with one of two first
// bytes, so the two key spaces can never collide or interleave:
//
//	key                                        DB    value
//	0x01 0x01                                  kv    store ident (proto)
//	0x01 0x02 region_id:8 0x01 log_index:8     raft  Raft log entry (eraftpb.Entry)
//	0x01 0x02 region_id:8 0x02                 raft  Raft hard state (raft local state)
//	0x01 0x02 region_id:8 0x03                 kv    apply state
//	0x01 0x03 region_id:8 0x01                 kv    region state (metapb.Region + peer state)
//	0x01 0x03 region_id:8 0x02                 kv    snapshot being applied (its index and term)
//	0x01 0x03 region_id:8 0x03                 kv    destroy not finished (the range to clear)
//	'z'  cf   user_key                         kv    user value of column family cf
//
// with cf one of 'd' (default), 'l' (lock), 'w' (write). Integers are
// big-endian, so byte order equals numeric order.
//
// Invariants the layers above rely on:
//   - DataKey(cf, k) = 'z' cf k. Within one CF, bytes.Compare of encoded keys
//     equals bytes.Compare of user keys (a shared two-byte prefix preserves
//     order), and a user range [start, end) of one CF is the single badger
//     range [DataKey(cf, start), DataKey(cf, end)).
//   - Each CF is the contiguous badger range ['z' cf, 'z' cf+1): no cf byte is
//     0xFF, so a user key of any number of 0xFF bytes still sorts below the
//     CF's end.
//   - Internal keys start with 0x01 and data keys with 'z' (0x7A); no user key,
//     whatever its bytes, can produce an internal key, and every internal key
//     sorts before every data key. Neither first byte is '!', which badger
//     reserves for its own keys ("!badger!...").
//   - A region's Raft log is the contiguous range RaftLogPrefix(region_id)
//     ordered by index; it holds nothing else.
//
// These values are persisted on disk: never renumber them.
const (
	internalPrefix byte = 0x01
	dataPrefix     byte = 'z'

	storeIdentSuffix byte = 0x01
	regionRaftPrefix byte = 0x02
	regionMetaPrefix byte = 0x03

	raftLogSuffix     byte = 0x01
	raftStateSuffix   byte = 0x02
	applyStateSuffix  byte = 0x03
	regionStateSuffix byte = 0x01
	snapApplySuffix   byte = 0x02
	pendingDestroy    byte = 0x03
)

// Column family names.
const (
	CFDefault = "default"
	CFLock    = "lock"
	CFWrite   = "write"
)

// CFs lists every column family, in the order of their encoded prefixes.
var CFs = []string{CFDefault, CFLock, CFWrite}

// cfByte maps a CF name ("" = default) to its on-disk byte.
func cfByte(cf string) (byte, error) {
	switch cf {
	case CFDefault, "":
		return 'd', nil
	case CFLock:
		return 'l', nil
	case CFWrite:
		return 'w', nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownCF, cf)
}

// cfName is the inverse of cfByte.
func cfName(b byte) (string, bool) {
	switch b {
	case 'd':
		return CFDefault, true
	case 'l':
		return CFLock, true
	case 'w':
		return CFWrite, true
	}
	return "", false
}

// ValidateCF returns nil for a known CF name or "" (which means default), and
// an error wrapping ErrUnknownCF otherwise.
func ValidateCF(cf string) error {
	_, err := cfByte(cf)
	return err
}

// NormalizeCF maps "" to CFDefault and validates the name.
func NormalizeCF(cf string) (string, error) {
	b, err := cfByte(cf)
	if err != nil {
		return "", err
	}
	name, _ := cfName(b)
	return name, nil
}

// cfPrefix returns the two-byte prefix shared by every key of the CF.
func cfPrefix(cf string) ([]byte, error) {
	b, err := cfByte(cf)
	if err != nil {
		return nil, err
	}
	return []byte{dataPrefix, b}, nil
}

// appendDataKey appends the encoding of (cf byte, key) to dst.
func appendDataKey(dst []byte, cfb byte, key []byte) []byte {
	dst = append(dst, dataPrefix, cfb)
	return append(dst, key...)
}

// DataKey encodes a user key of a CF. The key must be non-empty; any bytes are
// allowed. The result is a new slice.
func DataKey(cf string, key []byte) ([]byte, error) {
	b, err := cfByte(cf)
	if err != nil {
		return nil, err
	}
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	return appendDataKey(make([]byte, 0, 2+len(key)), b, key), nil
}

// DecodeDataKey splits an encoded data key into its CF name and user key. The
// returned key aliases encoded.
func DecodeDataKey(encoded []byte) (cf string, key []byte, err error) {
	if len(encoded) < 3 || encoded[0] != dataPrefix {
		return "", nil, fmt.Errorf("%w: not a data key: %x", ErrInvalidKey, encoded)
	}
	name, ok := cfName(encoded[1])
	if !ok {
		return "", nil, fmt.Errorf("%w: unknown cf byte %#x in data key", ErrInvalidKey, encoded[1])
	}
	return name, encoded[2:], nil
}

// IsDataKey reports whether an encoded key lies in the user-data key space.
func IsDataKey(encoded []byte) bool {
	return len(encoded) > 0 && encoded[0] == dataPrefix
}

// IsInternalKey reports whether an encoded key lies in the internal key space.
func IsInternalKey(encoded []byte) bool {
	return len(encoded) > 0 && encoded[0] == internalPrefix
}

// DataRange returns the encoded bounds [lo, hi) of the user range [start, end)
// of a CF. An empty start means the first key of the CF; an empty end means
// past the last key of the CF (which still includes keys made of 0xFF bytes).
func DataRange(cf string, start, end []byte) (lo, hi []byte, err error) {
	b, err := cfByte(cf)
	if err != nil {
		return nil, nil, err
	}
	lo = appendDataKey(make([]byte, 0, 2+len(start)), b, start)
	if len(end) == 0 {
		// 'z' cf+1 sorts after every 'z' cf ... key; cf bytes are letters,
		// so cf+1 never overflows.
		hi = []byte{dataPrefix, b + 1}
	} else {
		hi = appendDataKey(make([]byte, 0, 2+len(end)), b, end)
	}
	return lo, hi, nil
}

// StoreIdentKey is the kv-DB key of the store's identity.
func StoreIdentKey() []byte {
	return []byte{internalPrefix, storeIdentSuffix}
}

func regionKey(prefix byte, regionID uint64, suffix byte, extra int) []byte {
	k := make([]byte, 0, 11+extra)
	k = append(k, internalPrefix, prefix)
	k = binary.BigEndian.AppendUint64(k, regionID)
	return append(k, suffix)
}

// RegionStateKey is the kv-DB key of a region's local state (metapb.Region
// and whether the peer is live or a tombstone).
func RegionStateKey(regionID uint64) []byte {
	return regionKey(regionMetaPrefix, regionID, regionStateSuffix, 0)
}

// SnapshotApplyingKey is the kv-DB key that names the snapshot a region is
// applying (written with its Applying state, deleted when it is Normal), so
// that a restart replays exactly that snapshot.
func SnapshotApplyingKey(regionID uint64) []byte {
	return regionKey(regionMetaPrefix, regionID, snapApplySuffix, 0)
}

// PendingDestroyKey is the kv-DB key of a region whose destroy has not
// finished deleting its raft state and data; a restart finishes it.
func PendingDestroyKey(regionID uint64) []byte {
	return regionKey(regionMetaPrefix, regionID, pendingDestroy, 0)
}

// DecodePendingDestroyKey returns the region ID of a PendingDestroyKey.
func DecodePendingDestroyKey(key []byte) (regionID uint64, err error) {
	if len(key) != 11 || key[0] != internalPrefix || key[1] != regionMetaPrefix || key[10] != pendingDestroy {
		return 0, fmt.Errorf("%w: not a pending destroy key: %x", ErrInvalidKey, key)
	}
	return binary.BigEndian.Uint64(key[2:10]), nil
}

// ApplyStateKey is the kv-DB key of a region's apply state. It lives in the
// kv DB so that it commits in the same write batch as the data it describes.
func ApplyStateKey(regionID uint64) []byte {
	return regionKey(regionRaftPrefix, regionID, applyStateSuffix, 0)
}

// RaftStateKey is the raft-DB key of a region's Raft hard state.
func RaftStateKey(regionID uint64) []byte {
	return regionKey(regionRaftPrefix, regionID, raftStateSuffix, 0)
}

// RaftLogKey is the raft-DB key of a region's log entry at index.
func RaftLogKey(regionID, index uint64) []byte {
	k := regionKey(regionRaftPrefix, regionID, raftLogSuffix, 8)
	return binary.BigEndian.AppendUint64(k, index)
}

// RaftLogPrefix is the prefix shared by every log entry key of a region, and
// only by them.
func RaftLogPrefix(regionID uint64) []byte {
	return regionKey(regionRaftPrefix, regionID, raftLogSuffix, 0)
}

// RegionRaftPrefix is the prefix of every Raft key of a region: its log, hard
// state (raft DB) and apply state (kv DB). Deleting it removes all of them.
func RegionRaftPrefix(regionID uint64) []byte {
	k := make([]byte, 0, 10)
	k = append(k, internalPrefix, regionRaftPrefix)
	return binary.BigEndian.AppendUint64(k, regionID)
}

// RegionMetaPrefix is the prefix of every region's state key, for scanning
// all regions of a store at startup.
func RegionMetaPrefix() []byte {
	return []byte{internalPrefix, regionMetaPrefix}
}

// DecodeRaftLogKey returns the region ID and index of a log entry key.
func DecodeRaftLogKey(key []byte) (regionID, index uint64, err error) {
	if len(key) != 19 || key[0] != internalPrefix || key[1] != regionRaftPrefix || key[10] != raftLogSuffix {
		return 0, 0, fmt.Errorf("%w: not a raft log key: %x", ErrInvalidKey, key)
	}
	return binary.BigEndian.Uint64(key[2:10]), binary.BigEndian.Uint64(key[11:]), nil
}

// DecodeRegionStateKey returns the region ID of a region state key.
func DecodeRegionStateKey(key []byte) (regionID uint64, err error) {
	if len(key) != 11 || key[0] != internalPrefix || key[1] != regionMetaPrefix || key[10] != regionStateSuffix {
		return 0, fmt.Errorf("%w: not a region state key: %x", ErrInvalidKey, key)
	}
	return binary.BigEndian.Uint64(key[2:10]), nil
}
