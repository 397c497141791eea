// Command regionkv is the one binary of regionkv: store server, scheduler,
// data tool, ctl, bench and playground. This file only wires the
// subcommands, which live with the components they belong to; the rules
// they share (exit codes, usage, flags) are in proto/common/cli.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/client/bench"
	"github.com/regionkv/regionkv/client/kvcmd"
	"github.com/regionkv/regionkv/kv/playground"
	"github.com/regionkv/regionkv/kv/server"
	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/version"
	"github.com/regionkv/regionkv/scheduler/ctl"
	schedserver "github.com/regionkv/regionkv/scheduler/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root, logs := newRoot()
	root.SetOut(stdout)
	code := cli.Execute(root, args, stderr)
	logs.sync()
	return code
}

// logFlags are the root command's --log-* flags; given, they win over a
// config file's [log] table.
type logFlags struct {
	cmd                 *cobra.Command
	level, file, format string
	built               []*zap.Logger
}

// factory builds a server command's logger and logs the version line.
func (l *logFlags) factory(cfg logging.Config) (*zap.Logger, error) {
	f := l.cmd.PersistentFlags()
	if f.Changed("log-level") {
		cfg.Level = l.level
	}
	if f.Changed("log-file") {
		cfg.File = l.file
	}
	if f.Changed("log-format") {
		cfg.Format = l.format
	}
	lg, err := cfg.Build()
	if err != nil {
		return nil, err
	}
	l.built = append(l.built, lg)
	v := version.Get()
	lg.Info("regionkv", zap.String("version", v.Version), zap.String("revision", v.RevisionOrUnknown()),
		zap.String("go-version", v.GoVersion), zap.Int("pid", os.Getpid()))
	return lg, nil
}

func (l *logFlags) sync() {
	for _, lg := range l.built {
		_ = lg.Sync()
	}
}

// validated is a string flag whose value check runs when it is parsed, so
// that a bad value is a usage error.
type validated struct {
	p     *string
	check func(string) error
	typ   string
}

func (v validated) String() string { return *v.p }
func (v validated) Type() string   { return v.typ }
func (v validated) Set(s string) error {
	if err := v.check(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

func newRoot() (*cobra.Command, *logFlags) {
	v := version.Get()
	root := &cobra.Command{
		Use:   "regionkv",
		Short: "regionkv: a sharded, replicated key-value store",
		Example: `  regionkv playground                  # a scheduler and three stores on this machine
  regionkv kv put greeting hello       # write through the scheduler at 127.0.0.1:2379
  regionkv ctl store list              # the stores, their state and load
  regionkv version`,
		Version: v.String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	logs := &logFlags{cmd: root, level: "info", format: "text"}
	pf := root.PersistentFlags()
	pf.Var(validated{&logs.level, logging.ValidLevel, "level"}, "log-level",
		"log level of servers: debug, info, warn, error; given, it wins over the config file's [log] level")
	pf.StringVar(&logs.file, "log-file", "", "servers log to this file instead of stderr (rotated as the config file's [log] says)")
	pf.Var(validated{&logs.format, logging.ValidFormat, "format"}, "log-format", "servers' log format: text or json")
	root.AddCommand(
		server.NewCommand(logs.factory),
		schedserver.NewCommand(logs.factory),
		kvcmd.NewCommand(),
		playground.NewCommand(logs.factory),
		ctl.NewCommand(),
		bench.NewCommand(),
		versionCommand(),
	)
	cli.Prepare(root)
	return root, logs
}

func versionCommand() *cobra.Command {
	var output *cli.Output
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, VCS revision and Go version of this binary",
		Example: "  regionkv version\n  regionkv version -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			if *output == cli.JSON {
				return cli.WriteJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), v.String())
			return err
		},
	}
	output = cli.OutputFlag(cmd.Flags())
	return cmd
}
