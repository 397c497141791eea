package engine

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestDataKeyRoundTrip(t *testing.T) {
	keys := [][]byte{
		{0x00}, {0xFF}, {0x00, 0x00}, {0xFF, 0xFF, 0xFF}, {0x01}, {0x01, 0x02},
		[]byte("z"), []byte("!badger!"), []byte("a"), bytes.Repeat([]byte{0xFF}, 100),
	}
	for _, cf := range append([]string{""}, CFs...) {
		for _, k := range keys {
			enc, err := DataKey(cf, k)
			if err != nil {
				t.Fatal(err)
			}
			gotCF, gotKey, err := DecodeDataKey(enc)
			if err != nil {
				t.Fatalf("decode %x: %v", enc, err)
			}
			wantCF := cf
			if cf == "" {
				wantCF = CFDefault
			}
			if gotCF != wantCF || !bytes.Equal(gotKey, k) {
				t.Errorf("DecodeDataKey(DataKey(%q, %x)) = %q, %x", cf, k, gotCF, gotKey)
			}
			if !IsDataKey(enc) || IsInternalKey(enc) {
				t.Errorf("DataKey(%q, %x) = %x is not in the data space", cf, k, enc)
			}
		}
	}
}

func TestCFValidation(t *testing.T) {
	for _, cf := range []string{"", CFDefault, CFLock, CFWrite} {
		if err := ValidateCF(cf); err != nil {
			t.Errorf("ValidateCF(%q) = %v", cf, err)
		}
	}
	for _, cf := range []string{"Default", "raft", "write ", "d"} {
		if err := ValidateCF(cf); !errors.Is(err, ErrUnknownCF) {
			t.Errorf("ValidateCF(%q) = %v, want ErrUnknownCF", cf, err)
		}
		if _, err := DataKey(cf, []byte("k")); !errors.Is(err, ErrUnknownCF) {
			t.Errorf("DataKey(%q) = %v, want ErrUnknownCF", cf, err)
		}
		if _, _, err := DataRange(cf, nil, nil); !errors.Is(err, ErrUnknownCF) {
			t.Errorf("DataRange(%q) = %v, want ErrUnknownCF", cf, err)
		}
	}
	if _, err := DataKey(CFDefault, nil); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("DataKey(empty key) = %v, want ErrEmptyKey", err)
	}
	if cf, err := NormalizeCF(""); err != nil || cf != CFDefault {
		t.Errorf("NormalizeCF(\"\") = %q, %v", cf, err)
	}
}

func TestDecodeDataKeyRejects(t *testing.T) {
	bad := [][]byte{
		nil, {}, {'z'}, {'z', 'd'}, // too short: user keys are non-empty
		{'z', 'x', 'k'}, // unknown cf byte
		StoreIdentKey(), RegionStateKey(1), RaftLogKey(1, 1), ApplyStateKey(7),
		[]byte("!badger!head"),
	}
	for _, k := range bad {
		if _, _, err := DecodeDataKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("DecodeDataKey(%x) = %v, want ErrInvalidKey", k, err)
		}
	}
}

// randKey draws keys that stress ordering: short, over a small alphabet
// dominated by 0x00 and 0xFF, so prefixes and extremes collide often.
func randKey(r *rand.Rand) []byte {
	alphabet := []byte{0x00, 0x00, 0x01, 0x02, 'z', 0x7F, 0xFE, 0xFF, 0xFF}
	k := make([]byte, 1+r.Intn(6))
	for i := range k {
		if r.Intn(5) == 0 {
			k[i] = byte(r.Intn(256))
		} else {
			k[i] = alphabet[r.Intn(len(alphabet))]
		}
	}
	return k
}

// TestDataKeyOrderProperty: within a CF, the byte order of encoded keys is the
// byte order of user keys; every encoded key lies inside its CF's range and
// above every internal key.
func TestDataKeyOrderProperty(t *testing.T) {
	r := testRand(t)
	internal := allInternalKeySamples()
	maxInternal := slices.MaxFunc(internal, bytes.Compare)
	for range 20000 {
		cf := CFs[r.Intn(len(CFs))]
		a, b := randKey(r), randKey(r)
		ea, _ := DataKey(cf, a)
		eb, _ := DataKey(cf, b)
		if got, want := bytes.Compare(ea, eb), bytes.Compare(a, b); got != want {
			t.Fatalf("cf %s: compare(%x, %x) = %d, encoded %d", cf, a, b, want, got)
		}
		lo, hi, _ := DataRange(cf, nil, nil)
		if bytes.Compare(ea, lo) < 0 || bytes.Compare(ea, hi) >= 0 {
			t.Fatalf("cf %s: %x encodes to %x outside the CF range [%x, %x)", cf, a, ea, lo, hi)
		}
		if bytes.Compare(ea, maxInternal) <= 0 || IsInternalKey(ea) {
			t.Fatalf("cf %s: %x encodes to %x, in or below the internal key space", cf, a, ea)
		}
		if _, _, err := DecodeRaftLogKey(ea); err == nil {
			t.Fatalf("data key %x decodes as a raft log key", ea)
		}
		if _, err := DecodeRegionStateKey(ea); err == nil {
			t.Fatalf("data key %x decodes as a region state key", ea)
		}
		// A different CF's key never falls in this CF's range.
		other := CFs[(slices.Index(CFs, cf)+1+r.Intn(len(CFs)-1))%len(CFs)]
		eo, _ := DataKey(other, a)
		if bytes.Compare(eo, lo) >= 0 && bytes.Compare(eo, hi) < 0 {
			t.Fatalf("key %x of cf %s falls in cf %s's range", a, other, cf)
		}
	}
}

func allInternalKeySamples() [][]byte {
	var ks [][]byte
	ks = append(ks, StoreIdentKey(), RegionMetaPrefix())
	for _, id := range []uint64{0, 1, 255, 256, math.MaxUint64} {
		ks = append(ks, RegionStateKey(id), ApplyStateKey(id), RaftStateKey(id),
			RaftLogPrefix(id), RegionRaftPrefix(id))
		for _, idx := range []uint64{0, 1, 1 << 32, math.MaxUint64} {
			ks = append(ks, RaftLogKey(id, idx))
		}
	}
	return ks
}

func TestInternalKeys(t *testing.T) {
	for _, k := range allInternalKeySamples() {
		if !IsInternalKey(k) || IsDataKey(k) {
			t.Errorf("%x is not an internal key", k)
		}
		if k[0] == '!' {
			t.Errorf("%x collides with badger's reserved prefix", k)
		}
	}
	// Distinct constructors give distinct keys for one region.
	seen := map[string]string{}
	for name, k := range map[string][]byte{
		"store": StoreIdentKey(), "region": RegionStateKey(5), "apply": ApplyStateKey(5),
		"raft": RaftStateKey(5), "log0": RaftLogKey(5, 0),
	} {
		if prev, ok := seen[string(k)]; ok {
			t.Errorf("%s and %s share key %x", name, prev, k)
		}
		seen[string(k)] = name
	}
	// A region's log is ordered by index, contiguous under its prefix, and
	// holds neither the hard state nor another region's entries.
	r := testRand(t)
	for range 5000 {
		region := uint64(r.Intn(3)) + uint64(r.Intn(2))<<40
		i, j := r.Uint64()>>uint(r.Intn(64)), r.Uint64()>>uint(r.Intn(64))
		ki, kj := RaftLogKey(region, i), RaftLogKey(region, j)
		if got, want := bytes.Compare(ki, kj), cmpUint(i, j); got != want {
			t.Fatalf("log keys of %d and %d compare %d", i, j, got)
		}
		if !bytes.HasPrefix(ki, RaftLogPrefix(region)) || bytes.HasPrefix(ki, RaftLogPrefix(region+1)) {
			t.Fatalf("log key %x outside its region's prefix", ki)
		}
		if !bytes.HasPrefix(ki, RegionRaftPrefix(region)) {
			t.Fatalf("log key %x outside its region's raft prefix", ki)
		}
		gotRegion, gotIdx, err := DecodeRaftLogKey(ki)
		if err != nil || gotRegion != region || gotIdx != i {
			t.Fatalf("DecodeRaftLogKey(%x) = %d, %d, %v", ki, gotRegion, gotIdx, err)
		}
	}
	for _, k := range [][]byte{RaftStateKey(5), ApplyStateKey(5), RegionStateKey(5)} {
		if bytes.HasPrefix(k, RaftLogPrefix(5)) {
			t.Errorf("%x is inside region 5's log prefix", k)
		}
		if _, _, err := DecodeRaftLogKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("DecodeRaftLogKey(%x) = %v, want ErrInvalidKey", k, err)
		}
	}
	if id, err := DecodeRegionStateKey(RegionStateKey(42)); err != nil || id != 42 {
		t.Errorf("DecodeRegionStateKey = %d, %v", id, err)
	}
	if !bytes.HasPrefix(RegionStateKey(42), RegionMetaPrefix()) {
		t.Error("region state key outside RegionMetaPrefix")
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestDataRange(t *testing.T) {
	lo, hi, err := DataRange(CFWrite, []byte("a"), []byte("b"))
	if err != nil || string(lo) != "zwa" || string(hi) != "zwb" {
		t.Fatalf("DataRange(write, a, b) = %q, %q, %v", lo, hi, err)
	}
	lo, hi, _ = DataRange(CFLock, nil, nil)
	if !bytes.Equal(lo, []byte("zl")) || !bytes.Equal(hi, []byte("zm")) {
		t.Fatalf("DataRange(lock, unbounded) = %q, %q", lo, hi)
	}
	ff, _ := DataKey(CFLock, bytes.Repeat([]byte{0xFF}, 64))
	if bytes.Compare(ff, hi) >= 0 {
		t.Fatal("an all-0xFF key sorts past the unbounded end of its CF")
	}
}
