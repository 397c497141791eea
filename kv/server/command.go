package server

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/kv/config"
	"github.com/regionkv/regionkv/kv/storage/standalone"
)

// ErrNeedStandalone is returned until the Raft-backed storage exists.
var ErrNeedStandalone = errors.New("server: only --standalone mode is available in this version")

// NewCommand returns `regionkv server`. logger is called once flags are
// parsed, so that logging flags on the root command take effect.
func NewCommand(logger func() *zap.Logger) *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a store server",
		Long: `Run a store server: the tikvpb.Tikv gRPC service over the store's engines.

With --standalone the store serves the raw API from its local engine, without
replication. Stop it with Ctrl-C or SIGTERM: it finishes in-flight requests and
closes its engines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cfg.Standalone {
				return ErrNeedStandalone
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return RunStandalone(ctx, cfg, logger())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "gRPC listen address")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the store's engines (required)")
	f.BoolVar(&cfg.Standalone, "standalone", cfg.Standalone, "serve from the local engine without Raft")
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
