// Package playground is `regionkv playground`: a scheduler and N Raft
// stores on loopback in one process, for trying regionkv on one machine.
//
// It lives under kv/ because it runs stores and DESIGN's import rules let
// kv reach the scheduler's packages but never the other way round
// (scheduler -> proto only). Everything runs in this one process, through
// the same Run functions `regionkv server` and `regionkv scheduler` call:
// one Ctrl-C stops it all, in order, with nothing left behind, and no
// binary has to be found or child processes reaped. The price: one crash
// takes every member down, which a playground can afford; multi-process
// setups are what the README's deployment section describes.
package playground

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	kvconfig "github.com/regionkv/regionkv/kv/config"
	kvserver "github.com/regionkv/regionkv/kv/server"
	schedconfig "github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/dashboard"
	schedserver "github.com/regionkv/regionkv/scheduler/server"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("playground: invalid")

// maxStores keeps the stores' status ports (gRPC port + 20) clear of the
// gRPC ports.
const maxStores = 20

// Config is what the playground starts.
type Config struct {
	// Stores is the number of stores.
	Stores int
	// DataDir keeps the data across runs; empty means a temporary
	// directory removed on exit.
	DataDir string
	// SchedulerAddr is the scheduler's gRPC address; its HTTP API (ctl,
	// /metrics) listens on the port below, its embedded etcd on the two
	// above. Port 0 picks free ports for all of them.
	SchedulerAddr string
	// StorePort is the first store's gRPC port; store i takes StorePort+i,
	// its status server StorePort+20+i. 0 picks free ports.
	StorePort int
	// MaxReplicas is the scheduler's replicas per region; 0 means
	// min(3, Stores).
	MaxReplicas int
	// StoreConfig is a TOML file read by every store (e.g. its
	// [raftstore] table); the playground sets each store's addresses,
	// data dir and scheduler over it. Empty: the defaults.
	StoreConfig string
}

// DefaultConfig is three stores next to a scheduler on the default ports.
func DefaultConfig() Config {
	return Config{Stores: 3, SchedulerAddr: "127.0.0.1:2379", StorePort: 20160}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.Stores < 1 || c.Stores > maxStores {
		return fmt.Errorf("%w: stores must be in [1, %d], got %d", ErrInvalid, maxStores, c.Stores)
	}
	if _, _, err := net.SplitHostPort(c.SchedulerAddr); err != nil {
		return fmt.Errorf("%w: scheduler-addr %q: %v", ErrInvalid, c.SchedulerAddr, err)
	}
	if c.StorePort < 0 || c.StorePort+2*maxStores > 65535 {
		return fmt.Errorf("%w: store-port %d out of range", ErrInvalid, c.StorePort)
	}
	return nil
}

// Cluster describes a running playground.
type Cluster struct {
	DataDir             string
	SchedulerAddr       string
	SchedulerStatusAddr string
	Stores              []kvserver.Started
}

// NewCommand returns `regionkv playground`. logger is called once flags are
// parsed.
func NewCommand(logger func() *zap.Logger) *cobra.Command {
	cfg := DefaultConfig()
	cmd := &cobra.Command{
		Use:   "playground",
		Short: "Run a scheduler and N stores on loopback, in one process",
		Long: `Run a whole cluster on this machine: a scheduler (with an embedded etcd) and
--stores Raft stores on loopback, in this one process. It prints the
dashboard's URL, the addresses and how to connect with 'regionkv kv' and
'regionkv ctl'. --store-config gives every store settings from a TOML file
(e.g. a shorter [raftstore] region-heartbeat-interval, for a livelier key
visualizer).

Data lives in a temporary directory removed on exit, or in --data-dir, kept
(run the playground again on it to continue). Ctrl-C or SIGTERM stops the
stores (each finishes its requests in flight and closes its engines), then
the scheduler.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return Run(ctx, cfg, logger(), cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Stores, "stores", cfg.Stores, "number of stores")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "keep data here (default: a temporary directory removed on exit)")
	f.StringVar(&cfg.SchedulerAddr, "scheduler-addr", cfg.SchedulerAddr,
		"scheduler gRPC address; HTTP API on its port - 1, etcd on +1 and +2 (port 0: free ports)")
	f.IntVar(&cfg.StorePort, "store-port", cfg.StorePort, "first store's gRPC port, status port +20 (0: free ports)")
	f.IntVar(&cfg.MaxReplicas, "max-replicas", cfg.MaxReplicas, "replicas per region (default: min(3, --stores))")
	f.StringVar(&cfg.StoreConfig, "store-config", cfg.StoreConfig,
		"TOML file of store settings for every store, e.g. its [raftstore] table (addresses and data dirs are the playground's)")
	return cmd
}

// Run starts the playground, calls ready (if not nil) and prints how to
// use it on out once every member serves, and stops everything when ctx
// is done or a member fails.
func Run(ctx context.Context, cfg Config, logger *zap.Logger, out io.Writer, ready func(Cluster)) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "regionkv-playground-"); err != nil {
			return fmt.Errorf("playground: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil {
				err = errors.Join(err, fmt.Errorf("playground: remove %s: %w", dir, rerr))
			}
		}()
	}

	scfg := schedconfig.Default()
	scfg.Addr = cfg.SchedulerAddr
	scfg.StatusAddr = offsetAddr(cfg.SchedulerAddr, -1)
	scfg.DataDir = filepath.Join(dir, "scheduler")
	scfg.Schedule.MaxReplicas = cfg.MaxReplicas
	if scfg.Schedule.MaxReplicas == 0 {
		scfg.Schedule.MaxReplicas = min(3, cfg.Stores)
	}
	sched, err := schedserver.Start(scfg, logger.With(zap.String("component", "scheduler")))
	if err != nil {
		return err
	}
	defer sched.Close()

	// Stores run until storeCtx ends; they stop before the scheduler.
	storeCtx, stopStores := context.WithCancel(ctx)
	defer stopStores()
	type result struct {
		i   int
		err error
	}
	done := make(chan result, cfg.Stores)
	type up struct {
		i int
		s kvserver.Started
	}
	started := make(chan up, cfg.Stores)
	running := 0
	defer func() {
		stopStores()
		for ; running > 0; running-- {
			if r := <-done; r.err != nil {
				err = errors.Join(err, fmt.Errorf("playground: store %d: %w", r.i+1, r.err))
			}
		}
	}()
	for i := 0; i < cfg.Stores; i++ {
		kcfg := kvconfig.Default()
		if cfg.StoreConfig != "" {
			if err := kcfg.Load(cfg.StoreConfig); err != nil {
				return err
			}
		}
		kcfg.AdvertiseAddr, kcfg.StatusAddr, kcfg.Standalone = "", "", false
		kcfg.Addr = "127.0.0.1:0"
		if cfg.StorePort != 0 {
			kcfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.StorePort+i))
		}
		kcfg.DataDir = filepath.Join(dir, fmt.Sprintf("store-%d", i+1))
		kcfg.Scheduler = sched.Addr()
		if err := kcfg.Validate(); err != nil {
			return err
		}
		slog := logger.With(zap.String("component", fmt.Sprintf("store-%d", i+1)))
		running++
		go func() {
			done <- result{i, kvserver.Run(storeCtx, kcfg, slog, func(s kvserver.Started) { started <- up{i, s} })}
		}()
	}

	cl := Cluster{DataDir: dir, SchedulerAddr: sched.Addr(), SchedulerStatusAddr: sched.StatusAddr(),
		Stores: make([]kvserver.Started, cfg.Stores)}
	for n := 0; n < cfg.Stores; n++ {
		select {
		case u := <-started:
			cl.Stores[u.i] = u.s
		case r := <-done:
			running--
			if r.err == nil {
				r.err = errors.New("stopped before serving")
			}
			return fmt.Errorf("playground: store %d: %w", r.i+1, r.err)
		case <-ctx.Done():
			return nil
		}
	}
	printUsage(out, cl, cfg.DataDir == "")
	logger.Info("playground started", zap.String("addr", cl.SchedulerAddr),
		zap.String("status-addr", cl.SchedulerStatusAddr), zap.Int("stores", len(cl.Stores)), zap.String("data-dir", dir),
		zap.String("dashboard", DashboardURL(cl.SchedulerStatusAddr)))
	if ready != nil {
		ready(cl)
	}
	select {
	case <-ctx.Done():
		logger.Info("playground stopping")
		return nil
	case r := <-done:
		running--
		return fmt.Errorf("playground: store %d stopped: %v", r.i+1, r.err)
	}
}

// offsetAddr is addr with its port moved by delta; port 0 stays 0.
func offsetAddr(addr string, delta int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(n+delta))
}

// DashboardURL is the web page of the scheduler whose HTTP API listens on
// statusAddr.
func DashboardURL(statusAddr string) string { return "http://" + statusAddr + dashboard.Path }

func printUsage(out io.Writer, cl Cluster, temporary bool) {
	fmt.Fprintf(out, "regionkv playground is up.\n\n")
	fmt.Fprintf(out, "  dashboard   %s\n", DashboardURL(cl.SchedulerStatusAddr))
	fmt.Fprintf(out, "  scheduler   %s  (HTTP API and /metrics: http://%s)\n", cl.SchedulerAddr, cl.SchedulerStatusAddr)
	for i, s := range cl.Stores {
		fmt.Fprintf(out, "  store %-4d  %s  (store-id %d, /metrics: http://%s/metrics)\n", i+1, s.Addr, s.StoreID, s.StatusAddr)
	}
	keep := "kept"
	if temporary {
		keep = "removed on exit"
	}
	fmt.Fprintf(out, "  data        %s (%s)\n\n", cl.DataDir, keep)
	fmt.Fprintf(out, "Try, in another shell:\n")
	fmt.Fprintf(out, "  regionkv kv --scheduler %s put hello world\n", cl.SchedulerAddr)
	fmt.Fprintf(out, "  regionkv kv --scheduler %s get hello\n", cl.SchedulerAddr)
	fmt.Fprintf(out, "  regionkv kv --scheduler %s scan a z\n", cl.SchedulerAddr)
	fmt.Fprintf(out, "  regionkv ctl --scheduler http://%s store list\n", cl.SchedulerStatusAddr)
	fmt.Fprintf(out, "  regionkv ctl --scheduler http://%s region list\n", cl.SchedulerStatusAddr)
	fmt.Fprintf(out, "(with 'go run . ' in place of 'regionkv' from a checkout). Ctrl-C stops the playground.\n")
}
