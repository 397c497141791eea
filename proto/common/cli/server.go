package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/common/logging"
)

// Server is a server command whose configuration has been read from its
// file and flags.
type Server struct {
	// Validate checks the configuration.
	Validate func() error
	// Check is --config-check: validate, say so, and exit.
	Check bool
	// Log is the configuration's [log] table; Logger builds the logger
	// from it.
	Log    logging.Config
	Logger logging.Factory
	// Serve runs the server until ctx ends (SIGINT or SIGTERM).
	Serve func(ctx context.Context, lg *zap.Logger) error
}

// RunServer validates s's configuration, answers --config-check, builds
// the logger and serves until SIGINT or SIGTERM.
func RunServer(cmd *cobra.Command, s Server) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Check {
		_, err := fmt.Fprintln(cmd.OutOrStdout(), "config is valid")
		return err
	}
	lg, err := s.Logger(s.Log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return s.Serve(ctx, lg)
}
