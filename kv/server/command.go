package server

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
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

// NewCommand returns `regionkv server`. logger is called once flags are
// parsed, so that logging flags on the root command take effect.
func NewCommand(logger func() *zap.Logger) *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a store server",
		Long: `Run a store server: the tikvpb.Tikv gRPC service over the store's engines.

With --scheduler ADDR the store joins the cluster that scheduler manages (the
first store bootstraps it) and serves its region leaders through Raft. With
--standalone the store serves the raw API from its local engine, without
replication. Stop it with Ctrl-C or SIGTERM: it finishes in-flight requests and
closes its engines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if cfg.Standalone {
				return RunStandalone(ctx, cfg, logger())
			}
			if cfg.Scheduler == "" {
				return ErrNeedScheduler
			}
			return RunRaft(ctx, cfg, logger())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "gRPC listen address")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the store's engines (required)")
	f.BoolVar(&cfg.Standalone, "standalone", cfg.Standalone, "serve from the local engine without Raft")
	f.StringVar(&cfg.Scheduler, "scheduler", cfg.Scheduler, "scheduler address (host:port) of a Raft store")
	f.IntVar(&cfg.MaxKeySize, "max-key-size", cfg.MaxKeySize, "largest accepted key, in bytes")
	f.IntVar(&cfg.MaxValueSize, "max-value-size", cfg.MaxValueSize, "largest accepted value, in bytes")
	f.IntVar(&cfg.MaxScanLimit, "max-scan-limit", cfg.MaxScanLimit, "most rows one RawScan may ask for")
	return cmd
}

// RunStandalone serves cfg until ctx is done, then shuts down cleanly.
func RunStandalone(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
	st, err := standalone.NewStandaloneStorage(cfg.DataDir)
	if err != nil {
		return err
	}
	g, err := Listen(cfg, New(cfg, st, logger))
	if err != nil {
		return errors.Join(err, st.Close())
	}
	logger.Info("store server started", zap.String("addr", g.Addr()),
		zap.String("data-dir", cfg.DataDir), zap.Bool("standalone", true))
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	select {
	case <-ctx.Done():
		logger.Info("store server stopping", zap.String("addr", g.Addr()))
		g.Stop()
		err = <-served
	case err = <-served:
	}
	if cerr := st.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("server: close storage: %w", cerr))
	}
	return err
}

// RunRaft serves a Raft store until ctx is done: it listens first, so that
// the address registered with the scheduler is the bound one.
func RunRaft(ctx context.Context, cfg config.Config, logger *zap.Logger) error {
	sched, err := schedclient.New(ctx, []string{cfg.Scheduler}, schedclient.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("server: connect to scheduler: %w", err)
	}
	defer sched.Close()
	eng, err := engine.Open(cfg.DataDir, engine.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer eng.Close()
	srv := New(cfg, nil, logger)
	g, err := Listen(cfg, srv)
	if err != nil {
		return err
	}
	trans := grpctransport.New(grpctransport.SchedulerResolver{Sched: sched}, logger)
	defer trans.Close()
	rcfg := raftstore.DefaultConfig()
	rcfg.StoreAddr = g.Addr()
	rcfg.Logger = logger
	store, err := raftstore.NewStore(rcfg, eng, sched, trans)
	if err != nil {
		return err
	}
	if err := store.Start(ctx); err != nil {
		return err
	}
	defer store.Stop()
	srv.SetStorage(raftstorage.New(store))
	srv.SetRaftHandler(store)
	logger.Info("store server started", zap.String("addr", g.Addr()), zap.Uint64("store-id", store.StoreID()),
		zap.String("data-dir", cfg.DataDir), zap.String("scheduler", cfg.Scheduler))
	served := make(chan error, 1)
	go func() { served <- g.Serve() }()
	select {
	case <-ctx.Done():
		logger.Info("store server stopping", zap.String("addr", g.Addr()))
		g.StopWithin(5 * time.Second)
		err = <-served
	case err = <-served:
	}
	return err
}
