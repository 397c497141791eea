// Package cli holds the rules every regionkv subcommand follows, so that
// they behave alike: exit status 2 with the command's usage for a usage
// mistake (unknown subcommand, bad flag or flag value, wrong arguments),
// one environment variable for the scheduler's address, -o table|json for
// output, keys as text or 0x-hex, and deprecated flag names kept as hidden
// aliases.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// SchedulerEnv names the environment variable every tool reads for the
// scheduler's address when --scheduler is not given.
const SchedulerEnv = "REGIONKV_SCHEDULER"

// DefaultScheduler is the scheduler's address when neither --scheduler nor
// REGIONKV_SCHEDULER says otherwise: gRPC and the HTTP API share it.
const DefaultScheduler = "127.0.0.1:2379"

// Scheduler is the default value of a --scheduler flag: $REGIONKV_SCHEDULER,
// else DefaultScheduler.
func Scheduler() string {
	if v := strings.TrimSpace(os.Getenv(SchedulerEnv)); v != "" {
		return v
	}
	return DefaultScheduler
}

// UsageError is a mistake in how a command was called; Execute prints it
// with the command's usage and exits with status 2.
type UsageError struct {
	Cmd *cobra.Command
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError of cmd.
func Usagef(cmd *cobra.Command, format string, args ...any) error {
	return &UsageError{Cmd: cmd, Err: fmt.Errorf(format, args...)}
}

// ExitError ends a command with Code and no message of its own: `kv get`
// of a missing key exits with status 1, so that scripts can tell it from a
// failure (status 2, message on stderr).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Prepare applies the rules to every command under root: a group command
// (one with subcommands and nothing to run itself) prints its help when
// called alone and refuses an unknown subcommand; argument and flag errors
// become UsageErrors naming the command.
func Prepare(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Cmd: c, Err: err} })
	walk(root, func(c *cobra.Command) {
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = unknownSubcommand
			c.SuggestionsMinimumDistance = 2
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
		if c.Args == nil {
			return
		}
		check := c.Args
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				var u *UsageError
				if errors.As(err, &u) {
					return err
				}
				return &UsageError{Cmd: c, Err: err}
			}
			return nil
		}
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// unknownSubcommand refuses arguments to a group command: the first one
// named no subcommand.
func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return &UsageError{Cmd: c, Err: errors.New(msg)}
}

// Execute runs root with args and returns the process's exit status: 0 on
// success, ExitError's code, 2 with the usage for a UsageError, 2 with the
// message for any other error.
func Execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetErr(stderr)
	root.SilenceUsage, root.SilenceErrors = true, true
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var usage *UsageError
	if errors.As(err, &usage) {
		c := usage.Cmd
		if c == nil {
			c = cmd
		}
		fmt.Fprintf(stderr, "%s: %v\n\n%s", c.CommandPath(), usage.Err, c.UsageString())
		return 2
	}
	name := root.Name()
	if cmd != nil {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 2
}

// Alias adds old as a hidden, deprecated name of the flag name of fs: both
// set the same value, and using old prints a note to use name instead.
func Alias(fs *pflag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("cli: alias of undefined flag --" + name)
	}
	fs.AddFlag(&pflag.Flag{Name: old, Usage: f.Usage, Value: f.Value, DefValue: f.DefValue,
		NoOptDefVal: f.NoOptDefVal, Hidden: true, Deprecated: "use --" + name})
}

// Output is the value of an -o flag: table for people, json for scripts.
type Output string

// Output formats.
const (
	Table Output = "table"
	JSON  Output = "json"
)

// String implements pflag.Value.
func (o *Output) String() string { return string(*o) }

// Type implements pflag.Value.
func (o *Output) Type() string { return "table|json" }

// Set implements pflag.Value; a bad value is a flag error.
func (o *Output) Set(v string) error {
	switch Output(v) {
	case Table, JSON:
		*o = Output(v)
		return nil
	}
	return fmt.Errorf("must be table or json, not %q", v)
}

// OutputFlag defines -o/--output on fs, table by default.
func OutputFlag(fs *pflag.FlagSet) *Output {
	o := Table
	fs.VarP(&o, "output", "o", "output format: table or json")
	return &o
}

// WriteJSON writes v as indented JSON, for -o json.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
