// Package kvcmd is `regionkv kv`, the operator's data tool: get, put,
// delete, scan, compare-and-swap and their batch forms from the shell,
// through the client SDK. It talks to a cluster through its scheduler
// (--scheduler, by default 127.0.0.1:2379), or to one standalone store
// (--addr).
package kvcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/client"
)

// ExitError ends the command with Code and no message: `get` of a missing key
// and a `cas` that did not swap exit with status 1, so scripts can tell them
// from failures (status 2, message on stderr).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// errNotFound is what get (and batch-get, when a key is missing) returns.
var errNotFound = ExitError{Code: 1}

// DefaultScheduler is where kv looks for the cluster when given neither
// --scheduler nor --addr.
const DefaultScheduler = "127.0.0.1:2379"

type options struct {
	scheduler string
	addr      string
	cf        string
	timeout   time.Duration
}

// NewCommand returns `regionkv kv`.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write data: get, put, delete, scan, cas and batch forms",
		Long: `Read and write data in a cluster (through its scheduler, --scheduler) or in
one standalone store (--addr). With neither, the scheduler at ` + DefaultScheduler + `.

Exit status: 0 on success; 1 when get (or batch-get) finds no key or cas does
not swap; 2 on any error (the message goes to stderr).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.scheduler, "scheduler", "", "scheduler addresses, comma-separated (default "+DefaultScheduler+")")
	pf.StringVar(&o.addr, "addr", "", "address of one standalone store, instead of a scheduler")
	pf.StringVar(&o.cf, "cf", "", "column family: default, lock or write (empty means default)")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	cmd.AddCommand(o.getCmd(), o.putCmd(), o.deleteCmd(), o.scanCmd(), o.casCmd(),
		o.batchGetCmd(), o.batchPutCmd(), o.batchDeleteCmd(), o.deleteRangeCmd())
	return cmd
}

// call connects the SDK, runs fn within the deadline and closes the client.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, *client.RawClient) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	opts := []client.Option{client.WithColumnFamily(o.cf), client.WithConnsPerStore(1)}
	var c *client.RawClient
	var err error
	switch {
	case o.addr != "" && o.scheduler != "":
		return errors.New("give --scheduler or --addr, not both")
	case o.addr != "":
		c, err = client.NewRawClientForStore(ctx, o.addr, opts...)
	default:
		addrs := []string{DefaultScheduler}
		if o.scheduler != "" {
			addrs = strings.Split(o.scheduler, ",")
		}
		c, err = client.NewRawClient(ctx, addrs, opts...)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

func (o *options) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY; exit 1 if it does not exist",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				v, err := c.Get(ctx, []byte(args[0]))
				if err != nil {
					return err
				}
				if v == nil {
					return errNotFound
				}
				return printLine(cmd.OutOrStdout(), v)
			})
		},
	}
}

func (o *options) putCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set KEY to VALUE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.Put(ctx, []byte(args[0]), []byte(args[1]))
			})
		},
	}
}

func (o *options) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete KEY (deleting a missing key succeeds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.Delete(ctx, []byte(args[0]))
			})
		},
	}
}

func (o *options) scanCmd() *cobra.Command {
	var limit int
	var keyOnly, reverse bool
	cmd := &cobra.Command{
		Use:   "scan START [END]",
		Short: "Print KEY<TAB>VALUE lines of [START, END); with --reverse, from END down to START",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, end := []byte(args[0]), []byte(nil)
			if len(args) == 2 {
				end = []byte(args[1])
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				var keys, values [][]byte
				var err error
				if reverse {
					// The SDK's reverse scan starts at the exclusive upper
					// bound; the command takes the range in ascending order.
					keys, values, err = c.ReverseScan(ctx, end, start, limit)
				} else {
					keys, values, err = c.Scan(ctx, start, end, limit)
				}
				if err != nil {
					return err
				}
				return printPairs(cmd.OutOrStdout(), keys, values, keyOnly)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "most pairs to print")
	cmd.Flags().BoolVar(&keyOnly, "key-only", false, "print keys only")
	cmd.Flags().BoolVar(&reverse, "reverse", false, "scan in descending key order")
	return cmd
}

func (o *options) casCmd() *cobra.Command {
	var absent bool
	cmd := &cobra.Command{
		Use:   "cas KEY OLD NEW | cas --absent KEY NEW",
		Short: "Set KEY to NEW only if it holds OLD (or, with --absent, does not exist); exit 1 if not swapped",
		Args: func(cmd *cobra.Command, args []string) error {
			if absent {
				return cobra.ExactArgs(2)(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			key, prev, value := []byte(args[0]), []byte(nil), []byte(args[1])
			if !absent {
				prev, value = []byte(args[1]), []byte(args[2])
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				cur, swapped, err := c.CompareAndSwap(ctx, key, prev, value)
				if err != nil {
					return err
				}
				if swapped {
					return nil
				}
				if cur == nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "not swapped: key does not exist")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "not swapped: current value is %q\n", cur)
				}
				return ExitError{Code: 1}
			})
		},
	}
	cmd.Flags().BoolVar(&absent, "absent", false, "swap only if KEY does not exist")
	return cmd
}

func (o *options) batchGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "batch-get KEY...",
		Short: "Print KEY<TAB>VALUE lines of the keys that exist; exit 1 if any is missing",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				pairs, err := c.BatchGet(ctx, toBytes(args))
				if err != nil {
					return err
				}
				keys, values := make([][]byte, len(pairs)), make([][]byte, len(pairs))
				for i, p := range pairs {
					keys[i], values[i] = p.Key, p.Value
				}
				if err := printPairs(cmd.OutOrStdout(), keys, values, false); err != nil {
					return err
				}
				if len(pairs) < len(args) {
					return errNotFound
				}
				return nil
			})
		},
	}
}

func (o *options) batchPutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "batch-put KEY VALUE [KEY VALUE]...",
		Short: "Set each KEY to its VALUE (atomic per region, not as a whole)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args)%2 != 0 {
				return fmt.Errorf("batch-put takes KEY VALUE pairs, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var keys, values [][]byte
			for i := 0; i < len(args); i += 2 {
				keys, values = append(keys, []byte(args[i])), append(values, []byte(args[i+1]))
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.BatchPut(ctx, keys, values)
			})
		},
	}
}

func (o *options) batchDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "batch-delete KEY...",
		Short: "Delete the keys (missing keys are fine)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.BatchDelete(ctx, toBytes(args))
			})
		},
	}
}

func (o *options) deleteRangeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete-range START END",
		Short: "Delete every key in [START, END)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" && args[1] == "" {
				return errors.New("delete-range of the whole key space: give START or END")
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.DeleteRange(ctx, []byte(args[0]), []byte(args[1]))
			})
		},
	}
}

func toBytes(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

func printPairs(w io.Writer, keys, values [][]byte, keyOnly bool) error {
	for i, k := range keys {
		line := k
		if !keyOnly {
			line = append(append(append([]byte{}, k...), '\t'), values[i]...)
		}
		if err := printLine(w, line); err != nil {
			return err
		}
	}
	return nil
}

func printLine(w io.Writer, b []byte) error {
	_, err := w.Write(append(append([]byte{}, b...), '\n'))
	return err
}
