package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

// TestRawScanRegionBounds runs RawScan against the Raft storage of a
// region [b, m) and of the whole key space: a start key outside the region
// is KeyNotInRegion, a reverse scan may start at the region's end (or
// empty: the region's end), and the other bound is clamped to the region.
func TestRawScanRegionBounds(t *testing.T) {
	type tc struct {
		name       string
		start, end string
		reverse    bool
		want       string // keys, or "KeyNotInRegion"
	}
	for _, reg := range []struct {
		start, end string
		keys       []string
		cases      []tc
	}{
		{"b", "m", []string{"b", "c", "l"}, []tc{
			{"forward from region start", "b", "", false, "b c l"},
			{"forward end clamped", "c", "z", false, "c l"},
			{"forward start before region", "a", "", false, "KeyNotInRegion"},
			{"forward empty start", "", "", false, "KeyNotInRegion"},
			{"forward start at region end", "m", "", false, "KeyNotInRegion"},
			{"forward start past region", "x", "", false, "KeyNotInRegion"},
			{"reverse from region end", "m", "", true, "l c b"},
			{"reverse empty start", "", "", true, "l c b"},
			{"reverse lower clamped", "l", "a", true, "c b"},
			{"reverse from region start", "b", "", true, ""},
			{"reverse start past region end", "n", "", true, "KeyNotInRegion"},
			{"reverse start before region", "a", "", true, "KeyNotInRegion"},
		}},
		{"", "", []string{"a", "m", "z"}, []tc{
			{"forward empty start", "", "", false, "a m z"},
			{"forward", "b", "", false, "m z"},
			{"reverse empty start", "", "", true, "z m a"},
			{"reverse", "z", "b", true, "m"},
		}},
	} {
		t.Run("region=["+reg.start+","+reg.end+")", func(t *testing.T) {
			c := New(t, Options{Stores: 1, Seed: 41, RegionStart: []byte(reg.start), RegionEnd: []byte(reg.end)})
			ctx := testCtx(t, 20*time.Second)
			cl := c.NewClient(1)
			for _, k := range reg.keys {
				mustPut(t, cl, ctx, k, "v"+k)
			}
			l, err := c.Leader(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			srv := c.server(l)
			for _, tc := range reg.cases {
				resp, err := srv.RawScan(ctx, &kvrpcpb.RawScanRequest{Context: cl.kvctx(), StartKey: []byte(tc.start),
					EndKey: []byte(tc.end), Limit: 10, Reverse: tc.reverse})
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var got string
				switch re := resp.RegionError; {
				case re != nil && re.KeyNotInRegion != nil:
					got = "KeyNotInRegion"
					if string(re.KeyNotInRegion.Key) != tc.start || re.KeyNotInRegion.RegionId != FirstRegionID ||
						string(re.KeyNotInRegion.StartKey) != reg.start || string(re.KeyNotInRegion.EndKey) != reg.end {
						t.Errorf("%s: KeyNotInRegion %v", tc.name, re.KeyNotInRegion)
					}
				case re != nil:
					t.Fatalf("%s: region error %v", tc.name, re)
				default:
					var keys []string
					for _, kv := range resp.Kvs {
						if kv.Error != nil {
							t.Fatalf("%s: %v", tc.name, kv.Error)
						}
						if string(kv.Value) != "v"+string(kv.Key) {
							t.Errorf("%s: %s=%s", tc.name, kv.Key, kv.Value)
						}
						keys = append(keys, string(kv.Key))
					}
					got = strings.Join(keys, " ")
				}
				if got != tc.want {
					t.Errorf("%s: scan(%q, %q, reverse=%v) = %q, want %q", tc.name, tc.start, tc.end, tc.reverse, got, tc.want)
				}
			}
		})
	}
}
