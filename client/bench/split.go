package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/regionkv/regionkv/proto/common/security"
)

// The scheduler's HTTP API is spoken here directly: its typed client lives
// in scheduler/ctl, which the client packages may not import (DESIGN.md,
// "Who may import whom"). Only the few fields used are decoded.

type apiPeer struct {
	StoreID uint64 `json:"store-id"`
}

type apiRegion struct {
	ID       uint64   `json:"id"`
	StartKey string   `json:"start-key"` // hex
	EndKey   string   `json:"end-key"`   // hex
	Leader   *apiPeer `json:"leader"`
}

type apiStore struct {
	ID    uint64 `json:"id"`
	State string `json:"state"`
}

// schedulerAPI is a minimal client of the scheduler's /api/v1.
type schedulerAPI struct {
	base string
	http *http.Client
}

// newSchedulerAPI speaks HTTPS with sec's certificate, or plain HTTP
// with a nil sec, whatever scheme base names.
func newSchedulerAPI(base string, sec *security.TLS) *schedulerAPI {
	if _, rest, ok := strings.Cut(base, "://"); ok {
		base = rest
	}
	return &schedulerAPI{base: sec.Scheme() + "://" + strings.TrimRight(base, "/") + "/api/v1", http: sec.HTTPClient(10 * time.Second)}
}

func (a *schedulerAPI) do(ctx context.Context, method, path string, body, out any) error {
	var payload io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, payload)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("bench: scheduler API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: scheduler API %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (a *schedulerAPI) regions(ctx context.Context) ([]apiRegion, error) {
	var out struct {
		Regions []apiRegion `json:"regions"`
	}
	err := a.do(ctx, http.MethodGet, "/regions", nil, &out)
	return out.Regions, err
}

func (a *schedulerAPI) upStores(ctx context.Context) (int, error) {
	var out struct {
		Stores []apiStore `json:"stores"`
	}
	if err := a.do(ctx, http.MethodGet, "/stores", nil, &out); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range out.Stores {
		if s.State == "Up" {
			n++
		}
	}
	return n, nil
}

func (a *schedulerAPI) split(ctx context.Context, region uint64, keys [][]byte) error {
	req := struct {
		Name      string   `json:"name"`
		RegionID  uint64   `json:"region-id"`
		SplitKeys []string `json:"split-keys"`
	}{Name: "split", RegionID: region}
	for _, k := range keys {
		req.SplitKeys = append(req.SplitKeys, hex.EncodeToString(k))
	}
	return a.do(ctx, http.MethodPost, "/operators", req, nil)
}

// SplitKeys returns the n-1 keys that cut records [0, records) of the key
// space into n ranges of equal record count.
func SplitKeys(prefix string, keySize int, records uint64, n int) [][]byte {
	ks := newKeySpace(prefix, keySize, records)
	var out [][]byte
	for i := 1; i < n; i++ {
		out = append(out, ks.key(records*uint64(i)/uint64(n)))
	}
	return out
}

// PreSplit asks the scheduler (HTTP API at apiAddr, over HTTPS with sec
// unless it is nil) to split the regions
// holding keys at keys, then waits until every key is a region boundary,
// every region has a leader, and leaders are spread over the Up stores (no
// store leads more than its share plus a slack), or timeout passes. The
// balance-leader scheduler does the spreading. Progress goes to log.
func PreSplit(ctx context.Context, apiAddr string, sec *security.TLS, keys [][]byte, timeout time.Duration, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	api := newSchedulerAPI(apiAddr, sec)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	want := map[string]bool{}
	for _, k := range keys {
		want[hex.EncodeToString(k)] = true
	}
	var lastErr error
	asked := map[uint64]time.Time{} // region -> when a split was last asked for
	for {
		done, msg, err := presplitRound(ctx, api, want, asked)
		if err != nil {
			lastErr = err
		}
		if done {
			fmt.Fprintf(log, "pre-split: %s\n", msg)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: pre-split not done after %v: %s (last error: %v)", timeout, msg, lastErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// presplitRound looks at the region list once, asks for the splits still
// missing, and says whether the layout is ready.
func presplitRound(ctx context.Context, api *schedulerAPI, want map[string]bool, asked map[uint64]time.Time) (bool, string, error) {
	regions, err := api.regions(ctx)
	if err != nil {
		return false, "cannot list regions", err
	}
	stores, err := api.upStores(ctx)
	if err != nil {
		return false, "cannot list stores", err
	}
	sort.Slice(regions, func(i, j int) bool { return regions[i].StartKey < regions[j].StartKey })
	missing := map[uint64][][]byte{}
	have := 0
	for _, r := range regions {
		if want[r.StartKey] {
			have++
		}
	}
	for k := range want {
		if containsBoundary(regions, k) {
			continue
		}
		if r := regionOf(regions, k); r != nil {
			b, _ := hex.DecodeString(k)
			missing[r.ID] = append(missing[r.ID], b)
		}
	}
	var firstErr error
	for id, ks := range missing {
		if time.Since(asked[id]) < 3*time.Second {
			continue // an operator may still be running on it
		}
		sort.Slice(ks, func(i, j int) bool { return bytes.Compare(ks[i], ks[j]) < 0 })
		asked[id] = time.Now()
		if err := api.split(ctx, id, ks); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	leaders := map[uint64]int{}
	leaderless := 0
	for _, r := range regions {
		if r.Leader == nil {
			leaderless++
			continue
		}
		leaders[r.Leader.StoreID]++
	}
	msg := fmt.Sprintf("%d regions, %d/%d split keys are boundaries, %d leaderless, leaders by store %v", len(regions), have, len(want), leaderless, leaders)
	if have < len(want) || leaderless > 0 || stores == 0 {
		return false, msg, firstErr
	}
	// Spread: no store leads more than ceil(regions/stores) + slack.
	share := (len(regions) + stores - 1) / stores
	slack := 1 + share/10
	for _, n := range leaders {
		if n > share+slack {
			return false, msg, firstErr
		}
	}
	if len(regions) >= stores && len(leaders) < stores {
		return false, msg, firstErr
	}
	return true, msg, firstErr
}

func containsBoundary(regions []apiRegion, hexKey string) bool {
	for _, r := range regions {
		if r.StartKey == hexKey {
			return true
		}
	}
	return false
}

// regionOf returns the region whose [start, end) holds the hex key; hex
// preserves byte order, and an empty end is +infinity.
func regionOf(regions []apiRegion, hexKey string) *apiRegion {
	for i := range regions {
		r := &regions[i]
		if r.StartKey <= hexKey && (r.EndKey == "" || hexKey < r.EndKey) {
			return r
		}
	}
	return nil
}
