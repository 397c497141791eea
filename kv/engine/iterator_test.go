package engine

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// collect runs an iterator from Rewind (or Seek when seek != nil) to the end.
func collect(t testing.TB, it Iterator, seek []byte) []string {
	t.Helper()
	var out []string
	if seek == nil {
		it.Rewind()
	} else {
		it.Seek(seek)
	}
	for ; it.Valid(); it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%x=%s", it.Key(), v))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func scan(t testing.TB, e *Engines, cf string, opts IterOptions, seek []byte) []string {
	t.Helper()
	snap, err := e.NewSnapshot()
	must(t, err)
	defer snap.Close()
	it, err := snap.NewCFIterator(cf, opts)
	must(t, err)
	defer it.Close()
	return collect(t, it, seek)
}

func kv(k []byte, v string) string { return fmt.Sprintf("%x=%s", k, v) }

func TestIteratorBoundsAndReverse(t *testing.T) {
	e := openTest(t, testOptions())
	keys := [][]byte{{0x00}, {0x00, 0x00}, []byte("a"), []byte("b"), []byte("c"), {0xFF}, {0xFF, 0xFF}, {0xFF, 0xFF, 0xFF}}
	var wb WriteBatch
	for _, k := range keys {
		must(t, wb.PutCF(CFDefault, k, []byte("v"+string(rune('0'+len(k))))))
		// The same keys in the other CFs and internal keys must never show.
		must(t, wb.PutCF(CFLock, k, []byte("lock")))
		must(t, wb.PutCF(CFWrite, k, []byte("write")))
	}
	must(t, wb.Set(StoreIdentKey(), []byte("ident")))
	must(t, wb.WriteToDB(e.KV, false))
	all := make([]string, len(keys))
	for i, k := range keys {
		all[i] = kv(k, "v"+string(rune('0'+len(k))))
	}
	rev := slices.Clone(all)
	slices.Reverse(rev)

	cases := []struct {
		name   string
		opts   IterOptions
		seek   []byte
		expect []string
	}{
		{"forward unbounded", IterOptions{}, nil, all},
		{"reverse unbounded includes 0xFF keys", IterOptions{Reverse: true}, nil, rev},
		{"forward [a, c)", IterOptions{LowerBound: []byte("a"), UpperBound: []byte("c")}, nil, all[2:4]},
		{"reverse [a, c) skips exact upper", IterOptions{LowerBound: []byte("a"), UpperBound: []byte("c"), Reverse: true}, nil, []string{all[3], all[2]}},
		{"reverse upper 0xFF excludes it", IterOptions{UpperBound: []byte{0xFF}, Reverse: true}, nil, rev[3:]},
		{"forward lower 0xFF", IterOptions{LowerBound: []byte{0xFF}}, nil, all[5:]},
		{"reverse lower 0xFF 0xFF", IterOptions{LowerBound: []byte{0xFF, 0xFF}, Reverse: true}, nil, rev[:2]},
		{"forward lower 0x00 inclusive", IterOptions{LowerBound: []byte{0x00}}, nil, all},
		{"bounds between keys", IterOptions{LowerBound: []byte("aa"), UpperBound: []byte("bb")}, nil, all[3:4]},
		{"empty range lower == upper", IterOptions{LowerBound: []byte("b"), UpperBound: []byte("b")}, nil, nil},
		{"empty range reverse lower == upper", IterOptions{LowerBound: []byte("b"), UpperBound: []byte("b"), Reverse: true}, nil, nil},
		{"inverted range", IterOptions{LowerBound: []byte("c"), UpperBound: []byte("a")}, nil, nil},
		{"inverted range reverse", IterOptions{LowerBound: []byte("c"), UpperBound: []byte("a"), Reverse: true}, nil, nil},
		{"range with no keys", IterOptions{LowerBound: []byte("d"), UpperBound: []byte("e")}, nil, nil},
		{"forward seek exact", IterOptions{}, []byte("b"), all[3:]},
		{"forward seek between", IterOptions{}, []byte("bb"), all[4:]},
		{"forward seek below lower clamps", IterOptions{LowerBound: []byte("b")}, []byte{0x00}, all[3:]},
		{"forward seek past upper", IterOptions{UpperBound: []byte("c")}, []byte("c"), nil},
		{"reverse seek exact is inclusive", IterOptions{Reverse: true}, []byte("b"), rev[4:]},
		{"reverse seek between", IterOptions{Reverse: true}, []byte("bb"), rev[4:]},
		{"reverse seek above upper clamps", IterOptions{UpperBound: []byte("c"), Reverse: true}, []byte{0xFF}, rev[4:]},
		{"reverse seek at upper excludes it", IterOptions{UpperBound: []byte("b"), Reverse: true}, []byte("b"), rev[5:]},
		{"reverse seek at the smallest key", IterOptions{Reverse: true}, []byte{0x00}, rev[7:]},
		{"reverse seek below lower", IterOptions{LowerBound: []byte("a"), Reverse: true}, []byte{0x00, 0x00}, nil},
		{"reverse seek past the end", IterOptions{Reverse: true}, bytes.Repeat([]byte{0xFF}, 10), rev},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scan(t, e, CFDefault, c.opts, c.seek)
			if !slices.Equal(got, c.expect) {
				t.Errorf("got  %v\nwant %v", got, c.expect)
			}
		})
	}
	// Each CF sees only its own data.
	for _, cf := range []string{CFLock, CFWrite} {
		got := scan(t, e, cf, IterOptions{}, nil)
		if len(got) != len(keys) || got[0] != kv(keys[0], cf) {
			t.Errorf("cf %s: %v", cf, got)
		}
	}
}

// TestIteratorModel compares random scans with a sorted model, over keys and
// bounds drawn from a tiny alphabet so that bounds often hit keys exactly.
func TestIteratorModel(t *testing.T) {
	r := testRand(t)
	dir := t.TempDir()
	e, err := Open(dir, testOptions())
	must(t, err)
	model := map[string]string{}
	var wb WriteBatch
	for i := range 400 {
		if i == 200 {
			// Close flushes the memtable to a table: later scans merge
			// tables and the memtable, with deletes shadowing table keys.
			must(t, wb.WriteToDB(e.KV, false))
			wb.Reset()
			must(t, e.Close())
			e, err = Open(dir, testOptions())
			must(t, err)
		}
		k := randKey(r)
		cf := CFs[r.Intn(len(CFs))]
		if r.Intn(4) == 0 {
			must(t, wb.DeleteCF(cf, k))
			delete(model, cf+"/"+string(k))
		} else {
			v := fmt.Sprint(i)
			must(t, wb.PutCF(cf, k, []byte(v)))
			model[cf+"/"+string(k)] = v
		}
		if wb.Len() > 20 {
			must(t, wb.WriteToDB(e.KV, false))
			wb.Reset()
		}
	}
	must(t, wb.WriteToDB(e.KV, false))
	defer e.Close()

	for range 300 {
		cf := CFs[r.Intn(len(CFs))]
		var opts IterOptions
		if r.Intn(3) > 0 {
			opts.LowerBound = randKey(r)
		}
		if r.Intn(3) > 0 {
			opts.UpperBound = randKey(r)
		}
		opts.Reverse = r.Intn(2) == 0
		var seek []byte
		if r.Intn(2) == 0 {
			seek = randKey(r)
		}
		var want []string
		for mk, v := range model {
			mcf, k, _ := cutString(mk)
			if mcf != cf {
				continue
			}
			kb := []byte(k)
			if len(opts.LowerBound) > 0 && bytes.Compare(kb, opts.LowerBound) < 0 ||
				len(opts.UpperBound) > 0 && bytes.Compare(kb, opts.UpperBound) >= 0 {
				continue
			}
			if seek != nil && !opts.Reverse && bytes.Compare(kb, seek) < 0 ||
				seek != nil && opts.Reverse && bytes.Compare(kb, seek) > 0 {
				continue
			}
			want = append(want, kv(kb, v))
		}
		slices.SortFunc(want, func(a, b string) int { return compareHexKV(a, b) })
		if opts.Reverse {
			slices.Reverse(want)
		}
		got := scan(t, e, cf, opts, seek)
		if !slices.Equal(got, want) {
			t.Fatalf("cf %s opts %+v seek %x:\ngot  %v\nwant %v", cf, opts, seek, got, want)
		}
	}
}

func cutString(mk string) (cf, key string, ok bool) {
	for i := range len(mk) {
		if mk[i] == '/' {
			return mk[:i], mk[i+1:], true
		}
	}
	return "", "", false
}

// compareHexKV orders "hexkey=value" strings by the decoded key.
func compareHexKV(a, b string) int {
	var ka, kb []byte
	fmt.Sscanf(a, "%x=", &ka)
	fmt.Sscanf(b, "%x=", &kb)
	return bytes.Compare(ka, kb)
}

func TestIteratorOnCallerTxnAndKeyOnly(t *testing.T) {
	e := openTest(t, testOptions())
	mustPut(t, e, CFDefault, []byte("a"), []byte("1"))
	mustPut(t, e, CFDefault, []byte("b"), []byte("2"))
	txn := e.KV.NewTransaction(false)
	defer txn.Discard()
	it, err := NewCFIterator(txn, CFDefault, IterOptions{KeyOnly: true})
	must(t, err)
	defer it.Close()
	it.Rewind()
	if !it.Valid() || string(it.Key()) != "a" {
		t.Fatalf("first key %q", it.Key())
	}
	k := it.Key()
	it.Next()
	if string(k) != "a" {
		t.Fatal("Key's result changed after Next: it must be a copy")
	}
	it.Next()
	if it.Valid() || it.Key() != nil {
		t.Fatal("iterator valid past the end")
	}
	if _, err := it.Value(); !errors.Is(err, ErrIteratorInvalid) {
		t.Fatalf("Value past the end: %v", err)
	}
	if _, err := NewCFIterator(txn, "bogus", IterOptions{}); !errors.Is(err, ErrUnknownCF) {
		t.Fatalf("iterator on bad cf: %v", err)
	}
	ei := NewErrorIterator(ErrUnknownCF)
	ei.Rewind()
	if ei.Valid() || !errors.Is(ei.Err(), ErrUnknownCF) {
		t.Fatal("error iterator")
	}
}
