package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metricsql"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/kv/playground"
	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
	"github.com/regionkv/regionkv/scheduler/api"
)

// prometheusOwn are the series Prometheus makes itself for every target.
var prometheusOwn = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// queryMetrics parses PromQL expressions and returns the metric names they
// select, with where each comes from.
func queryMetrics(t *testing.T, exprs map[string]string) map[string][]string {
	t.Helper()
	names := map[string][]string{}
	for where, e := range exprs {
		// Grafana's own variables are not PromQL.
		e = strings.ReplaceAll(e, "$__rate_interval", "1m")
		parsed, err := metricsql.Parse(e)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", where, e, err)
		}
		found := false
		metricsql.VisitAll(parsed, func(x metricsql.Expr) {
			me, ok := x.(*metricsql.MetricExpr)
			if !ok {
				return
			}
			for _, lfs := range me.LabelFilterss {
				if len(lfs) == 0 || lfs[0].Label != "__name__" || lfs[0].IsRegexp || lfs[0].IsNegative {
					t.Fatalf("%s: %q selects series without naming one metric", where, e)
				}
				names[lfs[0].Value] = append(names[lfs[0].Value], where)
				found = true
			}
		})
		if !found {
			t.Fatalf("%s: %q names no metric", where, e)
		}
	}
	return names
}

// dashboardExprs reads every query of the Grafana dashboard.
func dashboardExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			if tg.Expr == "" {
				t.Fatalf("%s: panel %q query %d is empty", path, p.Title, i)
			}
			out[fmt.Sprintf("dashboard panel %q query %d", p.Title, i)] = tg.Expr
		}
	}
	if len(out) < 20 {
		t.Fatalf("%s: only %d queries", path, len(out))
	}
	return out
}

// alertExprs reads every rule of the Prometheus alerts file.
func alertExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &rules); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	if len(out) < 5 {
		t.Fatalf("%s: only %d alerts", path, len(out))
	}
	return out
}

// scrape returns the names of the series a /metrics page exports
// (histograms as their _bucket, _sum and _count series).
func scrape(t *testing.T, c *http.Client, target string, into map[string]bool) {
	t.Helper()
	resp, err := c.Get("http://" + target + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", target, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", target, err)
	}
	for name, mf := range mfs {
		into[name] = true
		if mf.GetType().String() == "HISTOGRAM" || mf.GetType().String() == "SUMMARY" {
			into[name+"_sum"], into[name+"_count"] = true, true
			if mf.GetType().String() == "HISTOGRAM" {
				into[name+"_bucket"] = true
			}
		}
	}
}

// TestDashboardQueriesNameExportedMetrics starts a scheduler and three
// stores in-process, drives traffic through them (unary and BatchCommands
// requests, replication to three stores), then scrapes every target the
// scheduler's Prometheus discovery lists, as the shipped Prometheus config
// does, and checks that every metric the Grafana dashboard and the alert
// rules query is exported by some target.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	root := filepath.Join("..", "scripts", "monitoring")
	want := queryMetrics(t, dashboardExprs(t, filepath.Join(root, "grafana", "regionkv.json")))
	for name, where := range queryMetrics(t, alertExprs(t, filepath.Join(root, "prometheus", "alerts.yml"))) {
		want[name] = append(want[name], where...)
	}
	checkScrapeConfig(t, filepath.Join(root, "prometheus", "prometheus.yml"))

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan playground.Cluster, 1)
	done := make(chan error, 1)
	cfg := playground.Config{Stores: 3, Host: "127.0.0.1", SchedulerAddr: "127.0.0.1:0"}
	go func() {
		done <- playground.Run(ctx, cfg, zap.NewNop(), io.Discard, func(c playground.Cluster) { ready <- c })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("playground: %v", err)
		}
	}()
	var cl playground.Cluster
	select {
	case cl = <-ready:
	case err := <-done:
		t.Fatalf("playground: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("playground did not start")
	}
	rc, err := client.NewRawClient(ctx, []string{cl.SchedulerAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var batch []tikvpb.TikvClient
	for _, s := range cl.Stores {
		conn, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		batch = append(batch, tikvpb.NewTikvClient(conn))
	}
	traffic := func(round int) {
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		defer ocancel()
		k := []byte(fmt.Sprintf("dash-%03d", round))
		if err := rc.Put(octx, k, []byte("v")); err != nil {
			t.Logf("put: %v", err)
		}
		_, _ = rc.Get(octx, k)
		_, _, _ = rc.Scan(octx, []byte("dash-"), nil, 10)
		// A BatchCommands stream to every store; the answers may be region
		// errors (no routing context), which count too.
		for _, b := range batch {
			st, err := b.BatchCommands(octx)
			if err != nil {
				continue
			}
			_ = st.Send(&tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}, Requests: []*tikvpb.BatchCommandsRequest_Request{
				{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{Key: k}}}}})
			_, _ = st.Recv()
			_ = st.CloseSend()
		}
	}

	hc := &http.Client{Timeout: 10 * time.Second}
	var missing []string
	var targets []string
	deadline := time.Now().Add(90 * time.Second)
	for round := 0; ; round++ {
		traffic(round)
		targets = discoveredTargets(t, hc, cl.SchedulerAddr)
		exported := map[string]bool{}
		for _, tg := range targets {
			scrape(t, hc, tg, exported)
		}
		missing = missing[:0]
		for name, where := range want {
			if !exported[name] && !prometheusOwn[name] {
				sort.Strings(where)
				missing = append(missing, fmt.Sprintf("%s (in %s)", name, strings.Join(where, "; ")))
			}
		}
		if len(missing) == 0 && len(targets) == 1+len(cl.Stores) {
			break
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			t.Fatalf("after 90s of traffic, %d discovered targets %v; queried but not exported:\n  %s",
				len(targets), targets, strings.Join(missing, "\n  "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// discoveredTargets are the targets of the scheduler's Prometheus HTTP
// service discovery.
func discoveredTargets(t *testing.T, c *http.Client, sched string) []string {
	t.Helper()
	resp, err := c.Get("http://" + sched + api.Prefix + "/metrics/targets")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var groups []api.TargetGroup
	if err := json.NewDecoder(resp.Body).Decode(&groups); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range groups {
		out = append(out, g.Targets...)
	}
	return out
}

// checkScrapeConfig: the shipped Prometheus config discovers its targets
// at the scheduler's discovery endpoint and loads the alerts file.
func checkScrapeConfig(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			HTTPSD []struct {
				URL string `yaml:"url"`
			} `yaml:"http_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != "alerts.yml" || len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].HTTPSD) == 0 {
		t.Fatalf("%s: %+v", path, cfg)
	}
	for _, sd := range cfg.ScrapeConfigs[0].HTTPSD {
		u, err := url.Parse(sd.URL)
		if err != nil || u.Path != api.Prefix+"/metrics/targets" || u.Host != "127.0.0.1:2379" {
			t.Fatalf("%s: discovery URL %q is not the scheduler's endpoint", path, sd.URL)
		}
	}
}
