package server

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/engine"
	"github.com/regionkv/regionkv/kv/storage/raftstorage"
	"github.com/regionkv/regionkv/kv/storage/standalone"
	"github.com/regionkv/regionkv/raftstore"
	"github.com/regionkv/regionkv/raftstore/grpctransport"
	schedclient "github.com/regionkv/regionkv/scheduler/client"
)

// ErrNeedScheduler: a Raft store needs --scheduler (or --standalone).
var ErrNeedScheduler = errors.New("server: --scheduler is required unless --standalone")

// drainTimeout bounds how long a stopping store waits for the client
// requests in flight.
const drainTimeout = 5 * time.Second

// NewCommand returns `regionkv server`. logger is called once flags are
// parsed, so that logging flags on the root command take effect.
func NewCommand(logger func() *zap.Logger) *cobra.Command {
	cfg := config.Default()
	var configFile string
	var printDefault bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a store server",
		Long: `Run a store server: the tikvpb.Tikv gRPC service over the store's engines,
and an HTTP status server (/metrics, /health; /regions on a Raft store) on
--status-addr.

With --scheduler ADDR the store joins the cluster that scheduler manages (the
first store bootstraps it) and serves its region leaders through Raft. With
--standalone the store serves the raw API from its local engine, without
replication. Settings come from the --config TOML file (see
--print-default-config), and flags given explicitly override it.

Stop it with Ctrl-C or SIGTERM: it refuses new requests, finishes those in
flight, stops Raft and closes (flushes) its engines.`,
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
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return Run(ctx, cfg, logger(), nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "TOML config file; flags given explicitly win")
	f.BoolVar(&printDefault, "print-default-config", false, "print the default config file and exit")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "gRPC listen address")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", cfg.AdvertiseAddr,
		"address registered with the scheduler, which other stores and clients dial (default: the bound --addr)")
	f.StringVar(&cfg.StatusAddr, "status-addr", cfg.StatusAddr,
		"HTTP listen address of /metrics and /health (default: --addr's port + 20; port 0 if --addr's is 0)")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the store's engines (required)")
	f.BoolVar(&cfg.Standalone, "standalone", cfg.Standalone, "serve from the local engine without Raft")
	f.StringVar(&cfg.Scheduler, "scheduler", cfg.Scheduler, "scheduler addresses (host:port, comma-separated: every member of a scheduler cluster) of a Raft store")
	f.IntVar(&cfg.MaxKeySize, "max-key-size", cfg.MaxKeySize, "largest accepted key, in bytes")
	f.IntVar(&cfg.MaxValueSize, "max-value-size", cfg.MaxValueSize, "largest accepted value, in bytes")
	f.IntVar(&cfg.MaxScanLimit, "max-scan-limit", cfg.MaxScanLimit, "most rows one RawScan may ask for")
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
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		return err
	}
	g, err := Listen(cfg, New(cfg, st, logger))
	if err != nil {
		return errors.Join(err, st.Close())
	}
	status, err := StartStatus(cfg.ResolvedStatusAddr(), NewMetricsRegistry(),
		func() map[string]any { return map[string]any{"healthy": true, "standalone": true} }, logger)
	if err != nil {
		g.closeUnserved()
		return errors.Join(err, st.Close())
	}
	logger.Info("store server started", zap.String("addr", g.Addr()), zap.String("status-addr", status.Addr()),
		zap.String("data-dir", cfg.DataDir), zap.Bool("standalone", true))
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
	sched, err := schedclient.New(ctx, cfg.SchedulerAddrs(), schedclient.Options{Logger: logger})
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
	srv := New(cfg, nil, logger)
	g, err := Listen(cfg, srv)
	if err != nil {
		return err
	}
	reg := NewMetricsRegistry()
	trans := grpctransport.New(grpctransport.SchedulerResolver{Sched: sched}, logger)
	defer trans.Close()
	rcfg := raftstoreConfig(cfg.Raftstore)
	rcfg.StoreAddr = g.Addr()
	if cfg.AdvertiseAddr != "" {
		rcfg.StoreAddr = cfg.AdvertiseAddr
	}
	rcfg.Logger = logger
	rcfg.Metrics = raftstore.NewStoreMetrics(reg)
	store, err := raftstore.NewStore(rcfg, eng, sched, trans)
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
	status, err := StartStatus(cfg.ResolvedStatusAddr(), reg, func() map[string]any {
		return map[string]any{"healthy": true, "store-id": store.StoreID(), "regions": len(store.RegionIDs())}
	}, logger)
	if err != nil {
		g.closeUnserved()
		return err
	}
	defer status.Close()
	status.Handle("GET /regions", regionsHandler(store))
	logger.Info("store server started", zap.String("addr", g.Addr()), zap.String("status-addr", status.Addr()),
		zap.Uint64("store-id", store.StoreID()), zap.String("data-dir", cfg.DataDir), zap.String("scheduler", cfg.Scheduler))
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
	case err = <-served:
	}
	return err
}

// raftstoreConfig is raftstore.DefaultConfig with the settings r exposes.
func raftstoreConfig(r config.Raftstore) raftstore.Config {
	c := raftstore.DefaultConfig()
	c.RaftBaseTickInterval = r.RaftBaseTickInterval.Duration
	c.ElectionTicks, c.HeartbeatTicks = r.RaftElectionTimeoutTicks, r.RaftHeartbeatTicks
	c.RaftWorkers, c.ApplyWorkers = r.StorePoolSize, r.ApplyPoolSize
	c.StoreHeartbeatInterval = r.StoreHeartbeatInterval.Duration
	c.RegionHeartbeatTicks = max(1, int(r.RegionHeartbeatInterval.Duration/r.RaftBaseTickInterval.Duration))
	c.RegionMaxSize, c.RegionSplitSize = r.RegionMaxSize, r.RegionSplitSize
	c.RegionMaxKeys, c.RegionSplitKeys = r.RegionMaxKeys, r.RegionSplitKeys
	c.HibernateRegions = r.HibernateRegions
	return c
}
