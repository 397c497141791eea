// Package kvcmd is `regionkv kv`, the operator's data tool: get, put,
// delete, scan, compare-and-swap and their batch forms from the shell,
// through the client SDK. It talks to a cluster through its scheduler
// (--scheduler, $REGIONKV_SCHEDULER, by default 127.0.0.1:2379), or to one
// standalone store (--addr). Keys and values are given as text, or as
// 0x-prefixed hex.
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
	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/security"
)

// errNotFound is what get (and batch-get, when a key is missing) returns.
var errNotFound = cli.ExitError{Code: 1}

type options struct {
	scheduler string
	addr      string
	cf        string
	timeout   time.Duration
	output    *cli.Output
	security  security.Config
}

// NewCommand returns `regionkv kv`.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write data: get, put, delete, scan, cas and batch forms",
		Long: `Read and write data in a cluster (through its scheduler, --scheduler) or in
one standalone store (--addr). --scheduler defaults to $` + cli.SchedulerEnv + `, else
` + cli.DefaultScheduler + `.

Keys and values are text, or 0x-prefixed hex (0x00ff). -o json prints
reads as JSON, with keys and values in the same text-or-hex form.

With --cacert, --cert and --key the tool speaks TLS with that client
certificate to the scheduler and the stores (a cluster with [security] on).

Exit status: 0 on success; 1 when get (or batch-get) finds no key or cas does
not swap; 2 on any error (the message goes to stderr).`,
		Example: `  regionkv kv put greeting hello
  regionkv kv get greeting
  regionkv kv --scheduler 10.0.0.1:2379 scan a z --limit 10
  regionkv kv --addr 127.0.0.1:20160 get 0x00ff     # one standalone store, a hex key
  regionkv kv --cacert ca.pem --cert client.pem --key client-key.pem get greeting`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.scheduler, "scheduler", cli.Scheduler(),
		"scheduler addresses, comma-separated (env "+cli.SchedulerEnv+")")
	pf.StringVar(&o.addr, "addr", "", "address of one standalone store, instead of a scheduler")
	pf.StringVar(&o.cf, "cf", "", "column family: default, lock or write (empty means default)")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	o.output = cli.OutputFlag(pf)
	security.AddFlags(pf, &o.security)
	cmd.AddCommand(o.getCmd(), o.putCmd(), o.deleteCmd(), o.scanCmd(), o.casCmd(),
		o.batchGetCmd(), o.batchPutCmd(), o.batchDeleteCmd(), o.deleteRangeCmd())
	return cmd
}

// call connects the SDK, runs fn within the deadline and closes the client.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, *client.RawClient) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	sec, err := security.Load(o.security, nil)
	if errors.Is(err, security.ErrInvalid) {
		return &cli.UsageError{Cmd: cmd, Err: err}
	}
	if err != nil {
		return err
	}
	opts := []client.Option{client.WithColumnFamily(o.cf), client.WithConnsPerStore(1), client.WithCredentials(sec.TransportCredentials())}
	var c *client.RawClient
	switch {
	case o.addr != "" && cmd.Flags().Changed("scheduler"):
		return cli.Usagef(cmd, "give --scheduler or --addr, not both")
	case o.addr != "":
		c, err = client.NewRawClientForStore(ctx, o.addr, opts...)
	default:
		c, err = client.NewRawClient(ctx, strings.Split(o.scheduler, ","), opts...)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}

// parseArgs reads arguments as keys or values: text, or 0x-hex.
func parseArgs(cmd *cobra.Command, args []string) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		b, err := cli.ParseKey(a)
		if err != nil {
			return nil, &cli.UsageError{Cmd: cmd, Err: err}
		}
		out[i] = b
	}
	return out, nil
}

// pair is a key and value as -o json shows them.
type pair struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

func jsonPairs(keys, values [][]byte, keyOnly bool) []pair {
	out := make([]pair, len(keys))
	for i, k := range keys {
		out[i].Key = cli.FormatKey(k)
		if !keyOnly {
			out[i].Value = cli.FormatKey(values[i])
		}
	}
	return out
}

func (o *options) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get KEY",
		Short:   "Print the value of KEY; exit 1 if it does not exist",
		Example: "  regionkv kv get greeting\n  regionkv kv get 0x00ff -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				v, err := c.Get(ctx, kv[0])
				if err != nil {
					return err
				}
				if v == nil {
					return errNotFound
				}
				if *o.output == cli.JSON {
					return cli.WriteJSON(cmd.OutOrStdout(), pair{Key: cli.FormatKey(kv[0]), Value: cli.FormatKey(v)})
				}
				return printLine(cmd.OutOrStdout(), v)
			})
		},
	}
}

func (o *options) putCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "put KEY VALUE",
		Short:   "Set KEY to VALUE",
		Example: "  regionkv kv put greeting hello\n  regionkv kv put 0x00ff 0xcafe     # hex key and value",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.Put(ctx, kv[0], kv[1])
			})
		},
	}
}

func (o *options) deleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete KEY",
		Short:   "Delete KEY (deleting a missing key succeeds)",
		Example: "  regionkv kv delete greeting",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.Delete(ctx, kv[0])
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
		Long: `Print the pairs of [START, END) in key order, KEY<TAB>VALUE per line (or a
JSON list with -o json). With --reverse, from END (exclusive) down to START.
At most --limit pairs: when the scan stops there, a note on stderr says so
and where to continue.`,
		Example: `  regionkv kv scan a z
  regionkv kv scan a z --limit 10 --key-only
  regionkv kv scan a z --reverse -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit <= 0 {
				return cli.Usagef(cmd, "--limit must be positive, got %d", limit)
			}
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			start, end := kv[0], []byte(nil)
			if len(kv) == 2 {
				end = kv[1]
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
				if *o.output == cli.JSON {
					err = cli.WriteJSON(cmd.OutOrStdout(), jsonPairs(keys, values, keyOnly))
				} else {
					err = printPairs(cmd.OutOrStdout(), keys, values, keyOnly)
				}
				if err == nil && len(keys) == limit {
					last := cli.FormatKey(keys[len(keys)-1])
					if reverse {
						fmt.Fprintf(cmd.ErrOrStderr(), "kv scan: stopped at --limit %d; keys before %s may follow\n", limit, last)
					} else {
						fmt.Fprintf(cmd.ErrOrStderr(), "kv scan: stopped at --limit %d; keys after %s may follow\n", limit, last)
					}
				}
				return err
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
		Example: `  regionkv kv cas greeting hello hi
  regionkv kv cas --absent counter 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if absent {
				return cobra.ExactArgs(2)(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			key, prev, value := kv[0], []byte(nil), kv[1]
			if !absent {
				prev, value = kv[1], kv[2]
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				cur, swapped, err := c.CompareAndSwap(ctx, key, prev, value)
				if err != nil {
					return err
				}
				if *o.output == cli.JSON {
					v := struct {
						Swapped bool    `json:"swapped"`
						Current *string `json:"current,omitempty"`
					}{Swapped: swapped}
					if !swapped && cur != nil {
						s := cli.FormatKey(cur)
						v.Current = &s
					}
					if err := cli.WriteJSON(cmd.OutOrStdout(), v); err != nil {
						return err
					}
				}
				if swapped {
					return nil
				}
				if cur == nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "not swapped: key does not exist")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "not swapped: current value is %s\n", cli.FormatKey(cur))
				}
				return cli.ExitError{Code: 1}
			})
		},
	}
	cmd.Flags().BoolVar(&absent, "absent", false, "swap only if KEY does not exist")
	return cmd
}

func (o *options) batchGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "batch-get KEY...",
		Short:   "Print KEY<TAB>VALUE lines of the keys that exist; exit 1 if any is missing",
		Example: "  regionkv kv batch-get k1 k2 k3",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				pairs, err := c.BatchGet(ctx, keys)
				if err != nil {
					return err
				}
				keys, values := make([][]byte, len(pairs)), make([][]byte, len(pairs))
				for i, p := range pairs {
					keys[i], values[i] = p.Key, p.Value
				}
				if *o.output == cli.JSON {
					err = cli.WriteJSON(cmd.OutOrStdout(), jsonPairs(keys, values, false))
				} else {
					err = printPairs(cmd.OutOrStdout(), keys, values, false)
				}
				if err != nil {
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
		Use:     "batch-put KEY VALUE [KEY VALUE]...",
		Short:   "Set each KEY to its VALUE (atomic per region, not as a whole)",
		Example: "  regionkv kv batch-put k1 v1 k2 v2",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || len(args)%2 != 0 {
				return fmt.Errorf("takes KEY VALUE pairs, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			var keys, values [][]byte
			for i := 0; i < len(kv); i += 2 {
				keys, values = append(keys, kv[i]), append(values, kv[i+1])
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.BatchPut(ctx, keys, values)
			})
		},
	}
}

func (o *options) batchDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "batch-delete KEY...",
		Short:   "Delete the keys (missing keys are fine)",
		Example: "  regionkv kv batch-delete k1 k2",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.BatchDelete(ctx, keys)
			})
		},
	}
}

func (o *options) deleteRangeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete-range START END",
		Short:   "Delete every key in [START, END)",
		Example: "  regionkv kv delete-range a m",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := parseArgs(cmd, args)
			if err != nil {
				return err
			}
			if len(kv[0]) == 0 && len(kv[1]) == 0 {
				return cli.Usagef(cmd, "delete-range of the whole key space: give START or END")
			}
			return o.call(cmd, func(ctx context.Context, c *client.RawClient) error {
				return c.DeleteRange(ctx, kv[0], kv[1])
			})
		},
	}
}

// ErrWrite reports output that could not be written.
var ErrWrite = errors.New("kv: write output")

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
	if _, err := w.Write(append(append([]byte{}, b...), '\n')); err != nil {
		return fmt.Errorf("%w: %v", ErrWrite, err)
	}
	return nil
}
