package tests

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/regionkv/regionkv/client"
)

var updateScreenshots = flag.Bool("update", false,
	"TestDashboardInBrowser: write its screenshots to scheduler/dashboard/screenshots (the README shows them)")

// browserTestEnv makes the browser test mandatory: with it set, a missing
// Chromium fails the test instead of skipping it. CI sets it.
const browserTestEnv = "REGIONKV_BROWSER_TEST"

// screenshotDir is where -update writes the README's screenshots.
const screenshotDir = "../scheduler/dashboard/screenshots"

// hotShown is how many of the bytes written to the hot range the key
// visualizer must show before the browser looks at it.
const hotShown = 256 << 10

var dashboardLogged = regexp.MustCompile(`"playground started"\].*\[dashboard=([^\]]+)\]`)

// TestDashboardInBrowser starts a playground, writes a skewed workload (one
// hot key range among ten regions), and drives a real headless Chromium
// through every view of the dashboard: the overview, stores and regions
// show the cluster's real stores and regions, a search by key (text and
// 0x-hex) opens the region holding it, the key visualizer's hottest band —
// found in the canvas's pixels and named by the page's own hover tooltip —
// lies on the hot range, a drag zooms on a key range, and the page
// refreshes itself without reloading. Screenshots of each view go to the
// test's temp dir and are named in any failure.
func TestDashboardInBrowser(t *testing.T) {
	chromium := findChromium(t)
	dir := t.TempDir()
	storeCfg := filepath.Join(dir, "store.toml")
	// Heartbeats every second, so the key visualizer sees the workload at once.
	if err := os.WriteFile(storeCfg, []byte("[raftstore]\nregion-heartbeat-interval = \"1s\"\nstore-heartbeat-interval = \"1s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, sched, _ := startPlayground(t, "--store-config", storeCfg)
	status := sched // the HTTP API shares the scheduler's address
	m := dashboardLogged.FindStringSubmatch(p.Output())
	if m == nil || m[1] != "http://"+status+"/dashboard/" {
		t.Fatalf("playground did not announce the dashboard at http://%s/dashboard/ (%q)", status, m)
	}
	dashURL := m[1]

	hot := splitAndLoad(t, sched, status)

	b := newBrowser(t, chromium, dir)
	apiURL := "http://" + status + "/api/v1/"
	var cluster struct {
		ClusterID uint64 `json:"cluster-id"`
	}
	getJSON(t, apiURL+"cluster", &cluster)
	var stores ctlStores
	getJSON(t, apiURL+"stores", &stores)
	var regions ctlRegions
	getJSON(t, apiURL+"regions", &regions)
	storeIDs, regionIDs := []string{}, []string{}
	for _, s := range stores.Stores {
		storeIDs = append(storeIDs, strconv.FormatUint(s.ID, 10))
	}
	for _, r := range regions.Regions {
		regionIDs = append(regionIDs, strconv.FormatUint(r.ID, 10))
	}
	slices.Sort(storeIDs)
	slices.Sort(regionIDs)

	// Overview: the cluster ID, three stores with their bars.
	b.open(dashURL)
	b.waitJS("the overview's store bars", `document.querySelectorAll('#store-bars .row').length === 3`)
	if got := b.text("#card-cluster .value"); got != strconv.FormatUint(cluster.ClusterID, 10) {
		b.fatalf("overview shows cluster ID %q, want %d", got, cluster.ClusterID)
	}
	if got := b.strings(`[...document.querySelectorAll('#store-bars .row')].map((r) => r.dataset.store).sort()`); !slices.Equal(got, storeIDs) {
		b.fatalf("overview bars for stores %v, want %v", got, storeIDs)
	}
	if got := b.text("#card-regions .value"); got != "10" {
		b.fatalf("overview shows %q regions, want 10", got)
	}
	b.waitJS("the balance schedulers' results", `document.querySelectorAll('#schedulers tbody tr').length >= 2`)
	b.shot("overview")

	// Stores: the real stores; a click on a header sorts.
	b.do("open the stores view", chromedp.Click(chromedp.CSS(`header nav a[data-view=stores]`)))
	b.waitJS("three store rows", `document.querySelectorAll('#stores-table tbody tr').length === 3`)
	if got := b.strings(`[...document.querySelectorAll('#stores-table td[data-col=id]')].map((e) => e.textContent).sort()`); !slices.Equal(got, storeIDs) {
		b.fatalf("stores view lists %v, want %v", got, storeIDs)
	}
	for _, s := range stores.Stores {
		if !strings.Contains(b.text("#stores-table"), s.Address) {
			b.fatalf("stores view lacks store %d's address %s", s.ID, s.Address)
		}
	}
	b.do("sort by ID, descending", chromedp.Click(chromedp.CSS(`#stores-table th[data-key=id]`)))
	if got := b.text(`#stores-table tbody tr:first-child td[data-col=id]`); got != storeIDs[len(storeIDs)-1] {
		b.fatalf("after sorting by ID descending the first store is %q, want %s", got, storeIDs[len(storeIDs)-1])
	}
	b.shot("stores")

	// Regions: the ten real regions.
	b.do("open the regions view", chromedp.Click(chromedp.CSS(`header nav a[data-view=regions]`)))
	b.waitJS("ten region rows", `document.querySelectorAll('#regions-table tbody tr').length === 10`)
	if got := b.strings(`[...document.querySelectorAll('#regions-table td[data-col=id]')].map((e) => e.textContent).sort()`); !slices.Equal(got, regionIDs) {
		b.fatalf("regions view lists %v, want %v", got, regionIDs)
	}
	b.shot("regions")

	// Hot: every store's load (each has heartbeated), and the hot region
	// tables, empty or not.
	b.do("open the hot view", chromedp.Click(chromedp.CSS(`header nav a[data-view=hot]`)))
	b.waitJS("three store load rows", `document.querySelectorAll('#hot-stores tbody tr').length === 3`)
	b.waitJS("the hot region tables", `!!document.querySelector('#hot-read') && !!document.querySelector('#hot-write')`)

	// Search by key, as text and as 0x-hex: the region holding it opens.
	var want struct {
		ID       uint64 `json:"id"`
		StartKey string `json:"start-key"`
	}
	getJSON(t, apiURL+"regions/key/"+hex.EncodeToString([]byte("k55")), &want)
	for _, key := range []string{"k55", "0x6b3535"} {
		b.show("#/stores")
		b.do("search "+key, chromedp.SetValue(chromedp.CSS("#search-key"), key), chromedp.Click(chromedp.CSS("#search button")))
		b.waitJS("the region page of "+key, fmt.Sprintf(`location.hash.startsWith('#/region/%d?') && !!document.querySelector('#region-range')`, want.ID))
		if got := b.text("#region-range"); !strings.Contains(got, "[k5, k6)") {
			b.fatalf("search %s: region page shows range %q, want [k5, k6)", key, got)
		}
	}
	b.waitJS("the region's leader", `!document.querySelector('#region-leader').textContent.startsWith('none')`)
	b.shot("region")
	b.do("search a malformed key", chromedp.SetValue(chromedp.CSS("#search-key"), "0xzz"), chromedp.Click(chromedp.CSS("#search button")))
	b.waitJS("the error for a malformed key", `!document.getElementById('error').hidden && document.getElementById('error').textContent.includes('not a hex key')`)
	b.eval(`document.getElementById('search-key').value = ''`)

	// Key visualizer: the hottest band of the canvas is the hot range.
	b.show("#/keyviz?last=900")
	b.waitJS("the heatmap drawn with data", `Number(document.getElementById('kv-canvas').dataset.max) > 0`)
	spot := step(b, "find the hottest band", chromedp.Evaluate[struct{ X, Y, Lum float64 }](hottestBandJS))
	b.do("hover on the hottest band", chromedp.MouseEvent(chromedp.MouseMoved, spot.X, spot.Y))
	b.waitJS("the tooltip", `!document.getElementById('kv-tip').hidden`)
	tip := b.strings(`(() => { const d = document.getElementById('kv-tip').dataset; return [d.startKey, d.endKey, d.value]; })()`)
	if tip[0] < hot[0] || tip[1] == "" || tip[1] > hot[1] {
		b.fatalf("the hottest band (pixel row %.0f) is keys [%s, %s) (value %s), outside the hot range [%s, %s)",
			spot.Y, tip[0], tip[1], tip[2], hot[0], hot[1])
	}
	// The cold ranges got 35 bytes each; the hot one's cell (the minute
	// with most of its 1.25 MiB) shows far more.
	if v, _ := strconv.ParseUint(tip[2], 10, 64); v < hotShown/4 {
		b.fatalf("the hot band shows %s bytes written, want at least %d of the 1.25 MiB written to it", tip[2], hotShown/4)
	}
	b.shot("keyviz")

	// Live: the page redraws on its own, without reloading.
	b.eval(`window.notReloaded = true`)
	b.waitJS("a second refresh", `Number(document.getElementById('status').dataset.updates) >= 2`)
	b.waitJS("the same page still loaded", `window.notReloaded === true`)

	// Zoom: a drag down across three rows shows their key range.
	rowH := b.float(`document.getElementById('kv-canvas').clientHeight / Number(document.getElementById('kv-canvas').dataset.rows)`)
	top := b.float(`document.getElementById('kv-canvas').getBoundingClientRect().top`)
	y0, y1 := top+4.5*rowH, top+6.5*rowH // rows 4 and 6: [k4, k5) to [k6, k7)
	b.do("drag to zoom",
		chromedp.MouseEvent(chromedp.MouseMoved, spot.X, y0),
		chromedp.MouseEvent(chromedp.MousePressed, spot.X, y0, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, spot.X, (y0+y1)/2, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, spot.X, y1, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, spot.X, y1, chromedp.ButtonLeft))
	b.waitJS("the zoomed key range", `location.hash.includes('start-key=6b34') && location.hash.includes('end-key=6b37') && `+
		`Number(document.getElementById('kv-canvas').dataset.rows) === 3`)

	if *updateScreenshots {
		b.saveScreenshots(screenshotDir)
	}
}

// hottestBandJS finds the brightest pixel row of the heatmap (colour
// brightness grows with the value) and returns the middle of that band at
// its brightest pixel, in page coordinates.
const hottestBandJS = `(() => {
  const c = document.getElementById('kv-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const sums = [], peaks = [];
  for (let y = 0; y < c.height; y++) {
    let sum = 0, peak = -1, px = 0;
    for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      const l = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += l;
      if (l > peak) { peak = l; px = x; }
    }
    sums.push(sum); peaks.push(px);
  }
  const best = Math.max(...sums);
  const first = sums.indexOf(best);
  let last = first;
  while (last + 1 < sums.length && sums[last + 1] === best) last++;
  const y = Math.floor((first + last) / 2);
  const r = c.getBoundingClientRect();
  return { X: r.left + peaks[y] + 0.5, Y: r.top + y + 0.5, Lum: best };
})()`

// findChromium returns Debian's chromium (or another Chrome) binary; it
// skips the test when there is none, unless browserTestEnv is set.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(browserTestEnv) != "" {
		t.Fatalf("%s is set but no chromium is installed (apt-get install -y chromium)", browserTestEnv)
	}
	t.Skipf("no chromium installed (apt-get install -y chromium); set %s=1 to make this a failure", browserTestEnv)
	return ""
}

// splitAndLoad splits the playground's region at k1..k9 and writes a
// skewed workload: a few small keys in every region, and 1.25 MiB into
// [k5, k6). It returns the hot range as hex and waits until the key
// visualizer's data shows it.
func splitAndLoad(t *testing.T, sched, status string) [2]string {
	var regions ctlRegions
	// A split submitted while the replica checker still adds replicas races
	// the conf change; wait for three.
	eventually(t, 60*time.Second, "one region with a leader and three replicas", func() bool {
		return ctlJSON(t, status, &regions, "region", "list") && regions.Count == 1 && regions.replicated(0, 3)
	})
	if out, errOut, code := runCLI(t, "ctl", "--scheduler", status, "region", "split", strconv.FormatUint(regions.Regions[0].ID, 10),
		"--keys", "k1,k2,k3,k4,k5,k6,k7,k8,k9"); code != 0 {
		t.Fatalf("ctl region split: exit %d: %s%s", code, out, errOut)
	}
	eventually(t, 60*time.Second, "ten regions with leaders", func() bool {
		if !ctlJSON(t, status, &regions, "region", "list") || regions.Count != 10 {
			return false
		}
		for _, r := range regions.Regions {
			if r.Leader == nil {
				return false
			}
		}
		return true
	})

	// A leader that hands over its leadership drops the traffic it has not
	// reported yet: write once balance-leader has spread the leaders.
	eventually(t, 60*time.Second, "leaders balanced and no operator running", func() bool {
		var stores ctlStores
		var ops []json.RawMessage
		if !ctlJSON(t, status, &stores, "store", "list") || stores.Count != 3 {
			return false
		}
		getJSON(t, "http://"+status+"/api/v1/operators", &ops)
		lo, hi := stores.Stores[0].LeaderCount, stores.Stores[0].LeaderCount
		for _, s := range stores.Stores {
			lo, hi = min(lo, s.LeaderCount), max(hi, s.LeaderCount)
		}
		return hi-lo <= 1 && len(ops) == 0
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.NewRawClient(ctx, []string{sched})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var keys, values [][]byte
	for r := range 10 {
		if r == 5 {
			continue
		}
		for i := range 5 {
			keys = append(keys, fmt.Appendf(nil, "k%d%d", r, i))
			values = append(values, []byte("cold"))
		}
	}
	if err := c.BatchPut(ctx, keys, values); err != nil {
		t.Fatalf("cold writes: %v", err)
	}
	value := make([]byte, 1024)
	for batch := range 40 {
		keys = keys[:0]
		values = values[:0]
		for i := range 32 {
			keys = append(keys, fmt.Appendf(nil, "k5/%02d/%02d", batch, i))
			values = append(values, value)
		}
		if err := c.BatchPut(ctx, keys, values); err != nil {
			t.Fatalf("hot writes: %v", err)
		}
	}
	hot := [2]string{hex.EncodeToString([]byte("k5")), hex.EncodeToString([]byte("k6"))}
	var kv struct {
		Keys   []string   `json:"keys"`
		Values [][]uint64 `json:"values"`
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the key visualizer's last data: keys %q, values %v", kv.Keys, kv.Values)
		}
	})
	eventually(t, 30*time.Second, "the hot range's writes in the key visualizer's data", func() bool {
		getJSON(t, "http://"+status+"/api/v1/keyviz?last=900", &kv)
		row := slices.Index(kv.Keys, hot[0])
		if row < 0 || row+1 >= len(kv.Keys) || kv.Keys[row+1] != hot[1] {
			return false
		}
		var sum uint64
		for _, col := range kv.Values {
			sum += col[row]
		}
		// A leader change during the writes still loses some of it.
		return sum >= hotShown
	})
	return hot
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(httpGet(t, url)), v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// browser is one headless Chromium tab; its checks fail the test with the
// screenshots taken so far and one of the page at the failure.
type browser struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	shots []string
}

const browserStepTimeout = 30 * time.Second

func newBrowser(t *testing.T, exe, dir string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.WindowSize(1400, 900),
		// No internet here: nothing may try to reach it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser, bound to ctx (not to a step's timeout).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		path := filepath.Join(b.dir, "failure.png")
		if os.WriteFile(path, png, 0o600) == nil {
			b.shots = append(b.shots, path)
		}
	}
	b.t.Fatalf("%s\npage: %s\nscreenshots: %s", msg, url, strings.Join(b.shots, " "))
}

// step runs one action with the step timeout, failing the test with what
// on error.
func step[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// open loads the dashboard at url.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#view")))
}

// show switches the page to another view, as a link on it would.
func (b *browser) show(hash string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("location.hash = %q", hash))
}

// waitJS waits until the expression is true in the page.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	step(b, "wait for "+what, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browserStepTimeout)))
}

func (b *browser) eval(expr string) {
	step(b, "evaluate "+expr, chromedp.Evaluate[chromedp.Void](expr))
}

func (b *browser) strings(expr string) []string {
	b.t.Helper()
	return step(b, "evaluate "+expr, chromedp.Evaluate[[]string](expr))
}

func (b *browser) float(expr string) float64 {
	b.t.Helper()
	return step(b, "evaluate "+expr, chromedp.Evaluate[float64](expr))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(step(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// shot saves a screenshot of the page as name.png in the test's dir.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := step(b, "screenshot "+name, chromedp.CaptureScreenshot())
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.shots = append(b.shots, path)
}

// saveScreenshots copies the views' screenshots to dir.
func (b *browser) saveScreenshots(dir string) {
	b.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for _, p := range b.shots {
		png, err := os.ReadFile(p)
		if err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.t.Logf("wrote %d screenshots to %s", len(b.shots), dir)
}
