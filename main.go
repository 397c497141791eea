// Command regionkv is the one binary of regionkv: store server, data tool and,
// as they land, the scheduler, ctl, bench and playground. This file only wires
// the subcommands, which live with the components they belong to.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/pingcap/log"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regionkv/regionkv/client/bench"
	"github.com/regionkv/regionkv/client/kvcmd"
	"github.com/regionkv/regionkv/kv/playground"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/scheduler/ctl"
	schedserver "github.com/regionkv/regionkv/scheduler/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var logLevel, logFile string
	var logger *zap.Logger
	getLogger := func() *zap.Logger {
		if logger != nil {
			return logger
		}
		cfg := &log.Config{Level: logLevel, File: log.FileLogConfig{Filename: logFile}}
		var err error
		if logFile != "" {
			logger, _, err = log.InitLogger(cfg)
		} else {
			out := zapcore.Lock(os.Stderr)
			logger, _, err = log.InitLoggerWithWriteSyncer(cfg, out, out)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "regionkv: logger: %v; logging is off\n", err)
			logger = zap.NewNop()
		}
		return logger
	}

	root := &cobra.Command{
		Use:           "regionkv",
		Short:         "regionkv: a sharded, replicated key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&logFile, "log-file", "", "log to this file instead of stderr")
	root.AddCommand(server.NewCommand(getLogger), schedserver.NewCommand(getLogger), kvcmd.NewCommand(),
		playground.NewCommand(getLogger), ctl.NewCommand(), bench.NewCommand())
	root.SetArgs(args)

	err := root.Execute()
	if logger != nil {
		_ = logger.Sync()
	}
	if err == nil {
		return 0
	}
	var exit kvcmd.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	fmt.Fprintf(os.Stderr, "regionkv: %v\n", err)
	return 2
}
