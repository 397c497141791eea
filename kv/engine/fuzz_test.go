package engine

import (
	"bytes"
	"testing"
)

// FuzzDataKeyRoundTrip: any non-empty user key of any CF round-trips, keeps
// its byte order against another key of the same CF, and stays out of the
// internal key space.
func FuzzDataKeyRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte("a"), []byte("b"))
	f.Fuzz(func(t *testing.T, cfi uint8, a, b []byte) {
		cf := CFs[int(cfi)%len(CFs)]
		ea, errA := DataKey(cf, a)
		eb, errB := DataKey(cf, b)
		if len(a) == 0 {
			if errA == nil {
				t.Fatal("empty key accepted")
			}
			return
		}
		if errA != nil {
			t.Fatal(errA)
		}
		gotCF, gotKey, err := DecodeDataKey(ea)
		if err != nil || gotCF != cf || !bytes.Equal(gotKey, a) {
			t.Fatalf("round trip of %q/%x: %q/%x, %v", cf, a, gotCF, gotKey, err)
		}
		if IsInternalKey(ea) || !IsDataKey(ea) {
			t.Fatalf("%x is not a data key", ea)
		}
		lo, hi, _ := DataRange(cf, nil, nil)
		if bytes.Compare(ea, lo) < 0 || bytes.Compare(ea, hi) >= 0 {
			t.Fatalf("%x outside its CF range", ea)
		}
		if errB == nil && bytes.Compare(ea, eb) != bytes.Compare(a, b) {
			t.Fatalf("order of %x and %x not preserved", a, b)
		}
	})
}
