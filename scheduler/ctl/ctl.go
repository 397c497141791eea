// Package ctl is `regionkv ctl`, the operator's tool for the scheduler (a
// pd-ctl for regionkv): stores, regions, operators, schedulers, config,
// members, health. It talks to the scheduler's HTTP JSON API (package
// scheduler/api) at --scheduler, the scheduler's status address
// (http://127.0.0.1:2378 by default: the gRPC port 2379 minus one).
// Output is a table for people, or with -o json the API's JSON for
// scripts. Keys are shown as text when printable and as 0x-hex otherwise;
// they are given as text, or as 0x-hex.
package ctl

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// DefaultScheduler is the scheduler's default HTTP address.
const DefaultScheduler = "http://127.0.0.1:2378"

type options struct {
	scheduler string
	output    string
	timeout   time.Duration
	out       io.Writer
}

// NewCommand returns `regionkv ctl`.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Inspect and steer the cluster through the scheduler",
		Long: `Inspect and steer the cluster through the scheduler's HTTP API: stores,
regions, operators, schedulers, config, members, health.

--scheduler takes the scheduler's HTTP (status) address, by default
` + DefaultScheduler + ` (its gRPC port minus one), or several, comma-separated:
ctl asks each until one answers as the leader. Tables by default; -o json
prints the API's JSON. Keys are given and shown as text, or 0x-prefixed hex.`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "table" && o.output != "json" {
				return fmt.Errorf("ctl: -o must be table or json, got %q", o.output)
			}
			o.out = cmd.OutOrStdout()
			return nil
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.scheduler, "scheduler", envOr("REGIONKV_SCHEDULER_HTTP", DefaultScheduler),
		"scheduler HTTP addresses, comma-separated (env REGIONKV_SCHEDULER_HTTP)")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	cmd.AddCommand(o.storeCmd(), o.regionCmd(), o.operatorCmd(), o.schedulerCmd(), o.configCmd(),
		o.memberCmd(), o.healthCmd(), o.clusterCmd())
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// call runs fn with a client and the command's deadline.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, *client) error) error {
	c, err := newClient(o.scheduler, o.timeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	return fn(ctx, c)
}

// show prints raw as JSON with -o json, else calls table.
func (o *options) show(raw json.RawMessage, table func(w *tabwriter.Writer)) error {
	if o.output == "json" {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// getShow GETs path into v and shows it.
func (o *options) getShow(cmd *cobra.Command, path string, v any, table func(w *tabwriter.Writer)) error {
	return o.call(cmd, func(ctx context.Context, c *client) error {
		raw, err := c.get(ctx, path, v)
		if err != nil {
			return err
		}
		return o.show(raw, table)
	})
}

// postShow sends method path with body, decodes the answer into v and
// shows it.
func (o *options) postShow(cmd *cobra.Command, method, path string, body, v any, table func(w *tabwriter.Writer)) error {
	return o.call(cmd, func(ctx context.Context, c *client) error {
		raw, err := c.do(ctx, method, path, body)
		if err != nil {
			return err
		}
		if v != nil {
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("ctl: undecodable answer: %w", err)
			}
		}
		return o.show(raw, table)
	})
}

// parseKey reads a key given as text, or as 0x-prefixed hex.
func parseKey(s string) ([]byte, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("ctl: key %q: bad hex: %v", s, err)
		}
		return b, nil
	}
	return []byte(s), nil
}

// showKey prints an API (hex) key as text when printable, else as 0x-hex;
// empty is shown as the range bound it stands for.
func showKey(hexKey, empty string) string {
	b, err := hex.DecodeString(hexKey)
	if err != nil {
		return hexKey
	}
	if len(b) == 0 {
		return empty
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return "0x" + hexKey
		}
	}
	return string(b)
}

func uintArg(s, what string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ctl: %s must be a number, got %q", what, s)
	}
	return v, nil
}
