// Package kvcmd is `regionkv kv`, the operator's data tool: get, put, delete,
// scan and compare-and-swap from the shell. For now it talks to one store
// address directly; it moves onto the client SDK's region routing once the SDK
// exists.
package kvcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/proto/codec"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// ExitError ends the command with Code and no message: `get` of a missing key
// and a `cas` that did not swap exit with status 1, so scripts can tell them
// from failures (status 2, message on stderr).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// errNotFound is what get returns for a missing key.
var errNotFound = ExitError{Code: 1}

type options struct {
	addr    string
	cf      string
	timeout time.Duration
}

// NewCommand returns `regionkv kv`.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write data: get, put, delete, scan, cas",
		Long: `Read and write data on a store.

Exit status: 0 on success; 1 when get finds no key or cas does not swap;
2 on any error (the message goes to stderr).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.addr, "addr", "127.0.0.1:20160", "store address")
	pf.StringVar(&o.cf, "cf", "", "column family: default, lock or write (empty means default)")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	cmd.AddCommand(o.getCmd(), o.putCmd(), o.deleteCmd(), o.scanCmd(), o.casCmd())
	return cmd
}

// call dials the store, runs fn within the deadline and closes the connection.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, tikvpb.TikvClient) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	conn, err := grpc.NewClient(o.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), codec.DialOption())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.addr, err)
	}
	defer conn.Close()
	return fn(ctx, tikvpb.NewTikvClient(conn))
}

// respErr turns a response's error fields into an error.
func respErr(regionErr *errorpb.Error, msg string) error {
	if msg != "" {
		return errors.New(msg)
	}
	if regionErr != nil {
		return fmt.Errorf("region error: %s", regionErr.Message)
	}
	return nil
}

func (o *options) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY; exit 1 if it does not exist",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.call(cmd, func(ctx context.Context, c tikvpb.TikvClient) error {
				resp, err := c.RawGet(ctx, &kvrpcpb.RawGetRequest{Key: []byte(args[0]), Cf: o.cf})
				if err != nil {
					return err
				}
				if err := respErr(resp.RegionError, resp.Error); err != nil {
					return err
				}
				if resp.NotFound {
					return errNotFound
				}
				return printLine(cmd.OutOrStdout(), resp.Value)
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
			return o.call(cmd, func(ctx context.Context, c tikvpb.TikvClient) error {
				resp, err := c.RawPut(ctx, &kvrpcpb.RawPutRequest{Key: []byte(args[0]), Value: []byte(args[1]), Cf: o.cf})
				if err != nil {
					return err
				}
				return respErr(resp.RegionError, resp.Error)
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
			return o.call(cmd, func(ctx context.Context, c tikvpb.TikvClient) error {
				resp, err := c.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{Key: []byte(args[0]), Cf: o.cf})
				if err != nil {
					return err
				}
				return respErr(resp.RegionError, resp.Error)
			})
		},
	}
}

func (o *options) scanCmd() *cobra.Command {
	var limit uint32
	var keyOnly, reverse bool
	cmd := &cobra.Command{
		Use:   "scan START [END]",
		Short: "Print KEY<TAB>VALUE lines of [START, END); with --reverse, from END down to START",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &kvrpcpb.RawScanRequest{StartKey: []byte(args[0]), Limit: limit, KeyOnly: keyOnly, Cf: o.cf}
			if len(args) == 2 {
				req.EndKey = []byte(args[1])
			}
			if reverse {
				// The wire form of a reverse scan starts at the exclusive upper
				// bound; the command takes the range in ascending order.
				req.Reverse = true
				req.StartKey, req.EndKey = req.EndKey, req.StartKey
			}
			return o.call(cmd, func(ctx context.Context, c tikvpb.TikvClient) error {
				resp, err := c.RawScan(ctx, req)
				if err != nil {
					return err
				}
				if err := respErr(resp.RegionError, ""); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				for _, kv := range resp.Kvs {
					if kv.Error != nil {
						return errors.New(kv.Error.Abort)
					}
					line := kv.Key
					if !keyOnly {
						line = append(append(append([]byte{}, kv.Key...), '\t'), kv.Value...)
					}
					if err := printLine(w, line); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&limit, "limit", 100, "most pairs to print")
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
			req := &kvrpcpb.RawCASRequest{Key: []byte(args[0]), Cf: o.cf, PreviousNotExist: absent}
			if absent {
				req.Value = []byte(args[1])
			} else {
				req.PreviousValue, req.Value = []byte(args[1]), []byte(args[2])
			}
			return o.call(cmd, func(ctx context.Context, c tikvpb.TikvClient) error {
				resp, err := c.RawCompareAndSwap(ctx, req)
				if err != nil {
					return err
				}
				if err := respErr(resp.RegionError, resp.Error); err != nil {
					return err
				}
				if resp.Succeed {
					return nil
				}
				if resp.PreviousNotExist {
					fmt.Fprintln(cmd.ErrOrStderr(), "not swapped: key does not exist")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "not swapped: current value is %q\n", resp.PreviousValue)
				}
				return ExitError{Code: 1}
			})
		},
	}
	cmd.Flags().BoolVar(&absent, "absent", false, "swap only if KEY does not exist")
	return cmd
}

func printLine(w io.Writer, b []byte) error {
	_, err := w.Write(append(append([]byte{}, b...), '\n'))
	return err
}
