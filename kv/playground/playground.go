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
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	kvconfig "github.com/regionkv/regionkv/kv/config"
	kvserver "github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/security"
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
	// Host is the address every member listens on and is reached at: an
	// address of this machine (127.0.0.1 by default).
	Host string
	// StoreConfig is a TOML file read by every store (e.g. its
	// [raftstore] table); the playground sets each store's addresses,
	// data dir and scheduler over it. Empty: the defaults.
	StoreConfig string
	// SchedulerAddr is the scheduler's address, gRPC and HTTP API alike;
	// its embedded etcd listens on the two ports above. Port 0 picks free
	// ports for all of them. Empty means Host:2379.
	SchedulerAddr string
	// StorePort is the first store's gRPC port; store i takes StorePort+i,
	// its status server StorePort+20+i. 0 picks free ports.
	StorePort int
	// MaxReplicas is the scheduler's replicas per region; 0 means
	// min(3, Stores).
	MaxReplicas int
	// TLS turns on mutual TLS everywhere, with a throwaway CA and
	// certificates made in the data dir's tls/ (kept across runs on a
	// kept data dir).
	TLS bool
}

// DefaultConfig is three stores next to a scheduler on the default ports.
func DefaultConfig() Config {
	return Config{Stores: 3, Host: "127.0.0.1", StorePort: 20160}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.Stores < 1 || c.Stores > maxStores {
		return fmt.Errorf("%w: stores must be in [1, %d], got %d", ErrInvalid, maxStores, c.Stores)
	}
	if ip := net.ParseIP(c.Host); c.Host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("%w: host %q: give an address of this machine that the members can reach", ErrInvalid, c.Host)
	}
	if _, _, err := net.SplitHostPort(c.schedulerAddr()); err != nil {
		return fmt.Errorf("%w: scheduler %q: %v", ErrInvalid, c.SchedulerAddr, err)
	}
	if c.StorePort < 0 || c.StorePort+2*maxStores > 65535 {
		return fmt.Errorf("%w: store-port %d out of range", ErrInvalid, c.StorePort)
	}
	return nil
}

// schedulerAddr is SchedulerAddr, or Host's default scheduler port.
func (c *Config) schedulerAddr() string {
	if c.SchedulerAddr != "" {
		return c.SchedulerAddr
	}
	return net.JoinHostPort(c.Host, "2379")
}

// Cluster describes a running playground.
type Cluster struct {
	DataDir       string
	SchedulerAddr string
	// Client is the tools' TLS configuration (zero without TLS).
	Client security.Config
	// Stores are in the order of their store IDs.
	Stores []kvserver.Started
}

// NewCommand returns `regionkv playground`. logger builds the logger once
// flags are parsed.
func NewCommand(logger logging.Factory) *cobra.Command {
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
the scheduler.

The first store starts alone and bootstraps the cluster, so that a fresh
playground always has store 1 and region 2; the others join it.

--tls makes a throwaway CA, a certificate for the servers and one for the
tools in the data dir's tls/ (crypto/x509, ECDSA P-256, valid a year; kept
and reused with a kept --data-dir), turns on mutual TLS on every connection
and prints the flags the tools need.`,
		Example: `  regionkv playground
  regionkv playground --stores 5 --data-dir /tmp/pg     # kept across runs
  regionkv playground --host 192.168.1.20               # reachable from other machines
  regionkv playground --scheduler 127.0.0.1:0 --store-port 0   # free ports
  regionkv playground --tls                             # mutual TLS; prints the tools' flags`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return &cli.UsageError{Cmd: cmd, Err: err}
			}
			lg, err := logger(logging.Default())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return Run(ctx, cfg, lg, cmd.OutOrStdout(), nil)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Stores, "stores", cfg.Stores, "number of stores")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "keep data here (default: a temporary directory removed on exit)")
	f.StringVar(&cfg.Host, "host", cfg.Host, "address of this machine every member listens on")
	f.StringVar(&cfg.StoreConfig, "store-config", cfg.StoreConfig,
		"TOML file of store settings for every store, e.g. its [raftstore] table (addresses and data dirs are the playground's)")
	f.StringVar(&cfg.SchedulerAddr, "scheduler", cfg.SchedulerAddr,
		"scheduler address, gRPC and HTTP API (default: --host:2379); etcd on its port +1 and +2 (port 0: free ports)")
	cli.Alias(f, "scheduler-addr", "scheduler")
	f.IntVar(&cfg.StorePort, "store-port", cfg.StorePort, "first store's gRPC port, status port +20 (0: free ports)")
	f.IntVar(&cfg.MaxReplicas, "max-replicas", cfg.MaxReplicas, "replicas per region (default: min(3, --stores))")
	f.BoolVar(&cfg.TLS, "tls", cfg.TLS, "mutual TLS everywhere, with a throwaway CA and certificates made in the data dir's tls/")
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

	var certs security.Generated
	if cfg.TLS {
		host, _, _ := net.SplitHostPort(cfg.schedulerAddr())
		if certs, err = security.GenerateDir(filepath.Join(dir, "tls"), []string{cfg.Host, host, "127.0.0.1", "localhost"}); err != nil {
			return fmt.Errorf("playground: %w", err)
		}
	}
	scfg := schedconfig.Default()
	scfg.Addr = cfg.schedulerAddr()
	scfg.Security = certs.Server
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
	start := func(i int) error {
		kcfg := kvconfig.Default()
		if cfg.StoreConfig != "" {
			if err := kcfg.Load(cfg.StoreConfig); err != nil {
				return err
			}
		}
		kcfg.AdvertiseAddr, kcfg.StatusAddr, kcfg.Standalone = "", "", false
		kcfg.Addr = net.JoinHostPort(cfg.Host, "0")
		if cfg.StorePort != 0 {
			kcfg.Addr = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.StorePort+i))
		}
		kcfg.DataDir = filepath.Join(dir, fmt.Sprintf("store-%d", i+1))
		kcfg.Scheduler = sched.Addr()
		kcfg.Security = certs.Server
		if err := kcfg.Validate(); err != nil {
			return err
		}
		slog := logger.With(zap.String("component", fmt.Sprintf("store-%d", i+1)))
		running++
		go func() {
			done <- result{i, kvserver.Run(storeCtx, kcfg, slog, func(s kvserver.Started) { started <- up{i, s} })}
		}()
		return nil
	}
	stores := make([]kvserver.Started, cfg.Stores)
	// wait waits for n stores to serve.
	wait := func(n int) (bool, error) {
		for ; n > 0; n-- {
			select {
			case u := <-started:
				stores[u.i] = u.s
			case r := <-done:
				running--
				if r.err == nil {
					r.err = errors.New("stopped before serving")
				}
				return false, fmt.Errorf("playground: store %d: %w", r.i+1, r.err)
			case <-ctx.Done():
				return false, nil
			}
		}
		return true, nil
	}
	// The first store bootstraps the cluster alone: store and region IDs
	// are then the same on every fresh playground.
	if err := start(0); err != nil {
		return err
	}
	if ok, err := wait(1); !ok {
		return err
	}
	for i := 1; i < cfg.Stores; i++ {
		if err := start(i); err != nil {
			return err
		}
	}
	if ok, err := wait(cfg.Stores - 1); !ok {
		return err
	}
	slices.SortFunc(stores, func(a, b kvserver.Started) int { return cmp.Compare(a.StoreID, b.StoreID) })
	cl := Cluster{DataDir: dir, SchedulerAddr: sched.Addr(), Stores: stores, Client: certs.Client}
	printUsage(out, cl, cfg.DataDir == "")
	fields := []zap.Field{zap.String("addr", cl.SchedulerAddr), zap.String("dashboard", cl.DashboardURL()),
		zap.Int("stores", len(cl.Stores)), zap.String("data-dir", dir)}
	if cl.Client.Enabled() {
		fields = append(fields, zap.String("tls-flags", TLSFlags(cl.Client)))
	}
	logger.Info("playground started", fields...)
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

// scheme is the URL scheme of the cluster's HTTP endpoints.
func (cl Cluster) scheme() string {
	if cl.Client.Enabled() {
		return "https"
	}
	return "http"
}

// DashboardURL is the web page of the cluster's scheduler. With TLS on,
// the browser must present a certificate of the cluster's CA.
func (cl Cluster) DashboardURL() string {
	return cl.scheme() + "://" + cl.SchedulerAddr + dashboard.Path
}

func printUsage(out io.Writer, cl Cluster, temporary bool) {
	tls := cl.Client.Enabled()
	scheme := cl.scheme()
	fmt.Fprintf(out, "regionkv playground is up.\n\n")
	fmt.Fprintf(out, "  dashboard   %s\n", cl.DashboardURL())
	fmt.Fprintf(out, "  scheduler   %-21s  (gRPC, HTTP API, /metrics)\n", cl.SchedulerAddr)
	for _, s := range cl.Stores {
		fmt.Fprintf(out, "  store %-4d  %-21s  (status: %s://%s/metrics)\n", s.StoreID, s.Addr, scheme, s.StatusAddr)
	}
	keep := "kept"
	if temporary {
		keep = "removed on exit"
	}
	fmt.Fprintf(out, "  data        %s (%s)\n", cl.DataDir, keep)
	if tls {
		fmt.Fprintf(out, "  TLS         on: every connection needs a certificate of the CA in %s\n", filepath.Dir(cl.Client.CAPath))
	}
	fmt.Fprintf(out, "\nTry, in another shell (with 'go run .' in place of 'regionkv' from a checkout):\n")
	if cl.SchedulerAddr != cli.DefaultScheduler {
		// Every tool reads the scheduler's address from the environment.
		fmt.Fprintf(out, "  export %s=%s\n", cli.SchedulerEnv, cl.SchedulerAddr)
	}
	kv, ctl := "kv", "ctl"
	if tls {
		fmt.Fprintf(out, "  TLS=%q\n", TLSFlags(cl.Client))
		kv, ctl = "kv $TLS", "ctl $TLS"
	}
	for _, c := range []string{kv + " put hello world", kv + " get hello", kv + " scan a z", ctl + " store list", ctl + " region list"} {
		fmt.Fprintf(out, "  regionkv %s\n", c)
	}
	if tls {
		fmt.Fprintf(out, "  curl --cacert %s --cert %s --key %s https://%s/metrics\n",
			cl.Client.CAPath, cl.Client.CertPath, cl.Client.KeyPath, cl.SchedulerAddr)
	}
	fmt.Fprintf(out, "Ctrl-C stops the playground.\n")
}

// TLSFlags are the flags that give a tool the certificate of c.
func TLSFlags(c security.Config) string {
	return fmt.Sprintf("--cacert %s --cert %s --key %s", c.CAPath, c.CertPath, c.KeyPath)
}
