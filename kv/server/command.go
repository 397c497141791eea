package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage/standalone"
	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/proto/common/version"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/grpctransport"
	"github.com/regionkv/regionkv/raftstore/raftstorage"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// ErrNeedScheduler: a Raft store needs --scheduler (or --standalone).
var ErrNeedScheduler = errors.New("server: --scheduler is required unless --standalone")

// ErrForeignDataDir: the data dir holds a store of another cluster than
// the one the scheduler serves.
var ErrForeignDataDir = errors.New("server: foreign data dir")

// drainTimeout bounds how long a stopping store waits for the client
// requests in flight.
const drainTimeout = 5 * time.Second

// NewCommand returns `regionkv server`. logger builds the logger from the
// config's [log] table once flags and the file are read.
func NewCommand(logger logging.Factory) *cobra.Command {
	cfg := config.Default()
	cfg.Scheduler = cli.Scheduler()
	var configFile string
	var printDefault, check bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a store server",
		Long: `Run a store server: the tikvpb.Tikv gRPC service over the store's engines,
and an HTTP status server on --status-addr: /metrics, /health, /status (build,
uptime), /config (the running configuration), /debug/pprof/, and /regions on
a Raft store.

With --scheduler ADDR the store joins the cluster that scheduler manages (the
first store bootstraps it) and serves its region leaders through Raft. With
--standalone the store serves the raw API from its local engine, without
replication. Settings come from the --config TOML file (see
--print-default-config), and flags given explicitly override it; --scheduler
defaults to $` + cli.SchedulerEnv + ` when neither sets it. --config-check
checks the file and the flags and exits.

--cacert, --cert and --key (the [security] table) turn on mutual TLS on
every connection the store serves (gRPC, status) and makes (the scheduler,
other stores); --cert-allowed-cn limits which certificates it admits.
Certificates are re-read when their files change. A data dir bootstrapped
in another cluster than the scheduler's is refused.

Stop it with Ctrl-C or SIGTERM: it refuses new requests, finishes those in
flight, stops Raft and closes (flushes) its engines.`,
		Example: `  regionkv server --data-dir /var/lib/regionkv/store
  regionkv server --scheduler 10.0.0.1:2379 --addr 10.0.0.2:20160 --data-dir /var/lib/regionkv/store
  regionkv server --config store.toml --config-check
  regionkv server --standalone --addr 127.0.0.1:20160 --data-dir /tmp/store
  regionkv server --data-dir /var/lib/regionkv/store --cacert ca.pem --cert store.pem --key store-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printDefault {
				return printDefaultConfig(cmd)
			}
			if configFile != "" {
				if err := loadUnderFlags(cmd.Flags(), &cfg, configFile); err != nil {
					return err
				}
			}
			return cli.RunServer(cmd, cli.Server{Validate: cfg.Validate, Check: check, Log: cfg.Log, Logger: logger,
				Serve: func(ctx context.Context, lg *zap.Logger) error { return Run(ctx, cfg, lg, nil) }})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "TOML config file; flags given explicitly win")
	f.BoolVar(&printDefault, "print-default-config", false, "print the default config file and exit")
	f.BoolVar(&check, "config-check", false, "check the config file and flags, print the verdict and exit")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "gRPC listen address")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", cfg.AdvertiseAddr,
		"address registered with the scheduler, which other stores and clients dial (default: the bound --addr)")
	f.StringVar(&cfg.StatusAddr, "status-addr", cfg.StatusAddr,
		"HTTP listen address of /metrics and /health (default: --addr's port + 20; port 0 if --addr's is 0)")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the store's engines (required)")
	f.BoolVar(&cfg.Standalone, "standalone", cfg.Standalone, "serve from the local engine without Raft")
	f.StringVar(&cfg.Scheduler, "scheduler", cfg.Scheduler,
		"scheduler addresses (host:port, comma-separated: every member of a scheduler cluster) of a Raft store (env "+cli.SchedulerEnv+")")
	f.IntVar(&cfg.MaxKeySize, "max-key-size", cfg.MaxKeySize, "largest accepted key, in bytes")
	f.IntVar(&cfg.MaxValueSize, "max-value-size", cfg.MaxValueSize, "largest accepted value, in bytes")
	f.IntVar(&cfg.MaxScanLimit, "max-scan-limit", cfg.MaxScanLimit, "most rows one RawScan may ask for")
	security.AddServerFlags(f, &cfg.Security)
	return cmd
}

func printDefaultConfig(cmd *cobra.Command) error {
	b, err := config.Default().TOML()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "# regionkv server: default configuration. Flags override these keys.")
	fmt.Fprintln(out, "# An empty status-addr means addr's port + 20 (20180 for 20160).")
	_, err = out.Write(b)
	return err
}

// loadUnderFlags reads path into cfg, the struct the flags are bound to,
// then sets again every flag given explicitly, so that flags win over the
// file.
func loadUnderFlags(fs *pflag.FlagSet, cfg *config.Config, path string) error {
	given := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = f.Value.String() })
	*cfg = config.Default()
	cfg.Scheduler = cli.Scheduler() // the file, then flags, win over the environment
	if err := cfg.Load(path); err != nil {
		return err
	}
	for name, v := range given {
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("server: flag --%s: %w", name, err)
		}
	}
	return nil
}

// Started describes a store that is serving.
type Started struct {
	Addr       string // gRPC address bound
	StatusAddr string // HTTP status address bound
	StoreID    uint64 // 0 for a standalone store
	// Raft is the running Raft store (nil for a standalone one), for
	// in-process tests that inspect region state or crash it.
	Raft *raftstore.Store
}

// Run serves cfg until ctx is done, standalone or Raft-backed as cfg says,
// then shuts down cleanly. started, if not nil, is called once the store
// serves.
func Run(ctx context.Context, cfg config.Config, logger *zap.Logger, started func(Started)) error {
	if cfg.Standalone {
		return runStandalone(ctx, cfg, logger, started)
	}
	if len(cfg.SchedulerAddrs()) == 0 {
		return ErrNeedScheduler
	}
	return runRaft(ctx, cfg, logger, started)
}

// RunStandalone serves cfg from the local engine until ctx is done.
func RunStandalone(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
	return runStandalone(ctx, cfg, logger, nil)
}

// RunRaft serves a Raft store until ctx is done.
func RunRaft(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
	return runRaft(ctx, cfg, logger, nil)
}

func runStandalone(ctx context.Context, cfg config.Config, logger *zap.Logger, started func(Started)) error {
	sec, err := security.Load(cfg.Security, logger)
	if err != nil {
		return err
	}
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		return err
	}
	srv := New(cfg, st, logger)
	reg := NewMetricsRegistry()
	srv.RegisterMetrics(reg)
	g, err := Listen(cfg, srv, WithTLS(sec))
	if err != nil {
		return errors.Join(err, st.Close())
	}
	status, err := StartStatus(StatusConfig{Addr: cfg.ResolvedStatusAddr(), Registry: reg, Config: cfg, Started: time.Now(),
		Health: func() map[string]any { return map[string]any{"healthy": true, "standalone": true} }, TLS: sec}, logger)
	if err != nil {
		g.closeUnserved()
		return errors.Join(err, st.Close())
	}
	security.WarnIfExposed(logger, cfg.Security, "store", g.Addr(), status.Addr())
	status.SetStore(map[string]any{"addr": g.Addr(), "standalone": true})
	v := version.Get()
	logger.Info("store server started", zap.String("addr", g.Addr()), zap.String("status-addr", status.Addr()),
		zap.String("data-dir", cfg.DataDir), zap.Bool("standalone", true), zap.String("version", v.Version))
	if started != nil {
		started(Started{Addr: g.Addr(), StatusAddr: status.Addr()})
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	select {
	case <-ctx.Done():
		logger.Info("store server stopping", zap.String("addr", g.Addr()))
		g.Stop()
		err = <-served
	case err = <-served:
	}
	status.Close()
	if cerr := st.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("server: close storage: %w", cerr))
	}
	logger.Info("store server stopped", zap.String("addr", g.Addr()))
	return err
}

// runRaft serves a Raft store until ctx is done: it listens first, so that
// the address registered with the scheduler is the bound one.
//
// Shutdown order: refuse new client requests and finish those in flight
// (Raft still runs, so their proposals commit), close every connection,
// stop the raftstore (its workers end their round; waiting callbacks get
// errors), close the transport, then close the engines, which flushes
// them. A kill -9 skips all of it and loses nothing acknowledged: every
// acknowledged write is in the synced raft log.
func runRaft(ctx context.Context, cfg config.Config, logger *zap.Logger, started func(Started)) (err error) {
	sec, err := security.Load(cfg.Security, logger)
	if err != nil {
		return err
	}
	sched, err := schedclient.New(ctx, cfg.SchedulerAddrs(), schedclient.Options{Logger: logger, Credentials: sec.TransportCredentials()})
	if err != nil {
		return fmt.Errorf("server: connect to scheduler: %w", err)
	}
	defer sched.Close()
	var storeID uint64
	defer func() {
		fields := []zap.Field{zap.String("addr", cfg.Addr), zap.Uint64("store-id", storeID)}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		logger.Info("store server stopped", fields...)
	}()
	eng, err := engine.Open(cfg.DataDir, engine.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := eng.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("server: close engines: %w", cerr))
		}
	}()
	if err := checkCluster(eng, sched.GetClusterID(ctx), cfg.Scheduler); err != nil {
		return err
	}
	startedAt := time.Now()
	srv := New(cfg, nil, logger)
	reg := NewMetricsRegistry()
	reg.MustRegister(NewEngineCollector(eng))
	srv.RegisterMetrics(reg)
	g, err := Listen(cfg, srv, WithTLS(sec))
	if err != nil {
		return err
	}
	// The status server listens before the store registers, so that the
	// scheduler learns the bound status address (metrics discovery).
	var running atomic.Pointer[raftstore.Store]
	status, err := StartStatus(StatusConfig{Addr: cfg.ResolvedStatusAddr(), Registry: reg, Config: cfg, Started: startedAt,
		Health: func() map[string]any {
			st := running.Load()
			if st == nil {
				return map[string]any{"healthy": false, "starting": true}
			}
			return map[string]any{"healthy": true, "store-id": st.StoreID(), "regions": len(st.RegionIDs())}
		}, TLS: sec}, logger)
	if err != nil {
		g.closeUnserved()
		return err
	}
	defer status.Close()
	security.WarnIfExposed(logger, cfg.Security, "store", g.Addr(), status.Addr())
	rsched := grpctransport.Scheduler(sched)
	trans := grpctransport.New(grpctransport.SchedulerResolver{Sched: rsched}, logger,
		grpctransport.WithCredentials(sec.TransportCredentials()))
	defer trans.Close()
	v := version.Get()
	rcfg := raftstoreConfig(cfg.Raftstore)
	rcfg.LoadSplit = loadSplitConfig(cfg.Split)
	rcfg.StoreAddr = g.Addr()
	if cfg.AdvertiseAddr != "" {
		rcfg.StoreAddr = cfg.AdvertiseAddr
	}
	rcfg.StatusAddr = advertisedStatusAddr(status.Addr(), rcfg.StoreAddr)
	rcfg.Version, rcfg.GitHash, rcfg.StartTimestamp = v.Version, v.Revision, startedAt.Unix()
	rcfg.Logger = logger
	rcfg.Metrics = raftstore.NewStoreMetrics(reg)
	store, err := raftstore.NewStore(rcfg, eng, rsched, trans)
	if err != nil {
		g.closeUnserved()
		return err
	}
	if err := store.Start(ctx); err != nil {
		g.closeUnserved()
		return err
	}
	defer store.Stop()
	storeID = store.StoreID()
	srv.SetStorage(raftstorage.New(store))
	srv.SetRaftHandler(store)
	running.Store(store)
	status.SetStore(map[string]any{"store-id": storeID, "addr": rcfg.StoreAddr})
	status.Handle("GET /regions", raftstore.RegionsHandler(store))
	logger.Info("store server started", zap.String("addr", g.Addr()), zap.String("status-addr", status.Addr()),
		zap.Uint64("store-id", store.StoreID()), zap.String("data-dir", cfg.DataDir), zap.String("scheduler", cfg.Scheduler),
		zap.String("version", v.Version))
	if started != nil {
		started(Started{Addr: g.Addr(), StatusAddr: status.Addr(), StoreID: store.StoreID(), Raft: store})
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	select {
	case <-ctx.Done():
		logger.Info("store server stopping", zap.String("addr", g.Addr()), zap.Uint64("store-id", store.StoreID()))
		if !g.Drain(drainTimeout) {
			logger.Warn("requests still in flight after the drain timeout", zap.Duration("timeout", drainTimeout))
		}
		err = <-served
	case <-store.Failed():
		// An engine failed (a full disk, a broken device): stop serving at
		// once; nothing more can be acknowledged. The process exits with
		// the error.
		logger.Error("store server stopping: its storage failed", zap.Uint64("store-id", store.StoreID()), zap.Error(store.Err()))
		g.Drain(0)
		<-served
		err = store.Err()
	case err = <-served:
	}
	return err
}

// checkCluster refuses a data dir whose store was bootstrapped in another
// cluster than the scheduler's: joining would put the old cluster's
// regions next to the new one's. A new data dir (no store identity yet)
// passes; it joins the scheduler's cluster when the store bootstraps.
func checkCluster(eng *engine.Engines, clusterID uint64, scheduler string) error {
	ident, err := raftstore.LoadStoreIdent(eng)
	if errors.Is(err, raftstore.ErrNotBootstrapped) {
		return nil
	}
	if err != nil {
		return err
	}
	if ident.ClusterId != clusterID {
		return fmt.Errorf("%w: data dir %s belongs to cluster %d (store %d); the scheduler at %s serves cluster %d: "+
			"start the store against its own cluster's scheduler, or give it an empty data dir",
			ErrForeignDataDir, eng.Dir(), ident.ClusterId, ident.StoreId, scheduler, clusterID)
	}
	return nil
}

// raftstoreConfig is raftstore.DefaultConfig with the settings r exposes.
func raftstoreConfig(r config.Raftstore) raftstore.Config {
	c := raftstore.DefaultConfig()
	c.RaftBaseTickInterval = r.RaftBaseTickInterval.Duration
	c.ElectionTicks, c.HeartbeatTicks = r.RaftElectionTimeoutTicks, r.RaftHeartbeatTicks
	c.RaftWorkers, c.ApplyWorkers = r.StorePoolSize, r.ApplyPoolSize
	c.StoreHeartbeatInterval = r.StoreHeartbeatInterval.Duration
	c.RegionHeartbeatTicks = max(1, int(r.RegionHeartbeatInterval.Duration/r.RaftBaseTickInterval.Duration))
	c.RegionMaxSize, c.RegionSplitSize = uint64(r.RegionMaxSize), uint64(r.RegionSplitSize)
	c.RegionMaxKeys, c.RegionSplitKeys = r.RegionMaxKeys, r.RegionSplitKeys
	c.RaftLogGCTickInterval = max(1, int(r.RaftLogGCTickInterval.Duration/r.RaftBaseTickInterval.Duration))
	c.RaftLogGCCountLimit, c.RaftLogGCSizeLimit = r.RaftLogGCCountLimit, uint64(r.RaftLogGCSizeLimit)
	c.HibernateRegions = r.HibernateRegions
	c.ReserveSpace = uint64(r.ReserveSpace)
	return c
}

// loadSplitConfig is raftstore's load-split config with the settings s
// exposes.
func loadSplitConfig(s config.Split) raftstore.LoadSplitConfig {
	c := raftstore.DefaultLoadSplitConfig()
	c.QPSThreshold, c.ByteThreshold = s.QPSThreshold, uint64(s.ByteThreshold)
	c.DetectTimes, c.SampleNum = s.DetectTimes, s.SampleNum
	c.BalanceScore, c.ContainedScore = s.SplitBalanceScore, s.SplitContainedScore
	return c
}

// advertisedStatusAddr is the status address other machines can reach:
// the bound one, with the store's advertised host when the status server
// listens on every interface (0.0.0.0 or ::).
func advertisedStatusAddr(bound, storeAddr string) string {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return bound
	}
	if h, _, err := net.SplitHostPort(storeAddr); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			return net.JoinHostPort(h, port)
		}
	}
	return bound
}
