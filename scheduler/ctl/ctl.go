// Package ctl is `regionkv ctl`, the operator's tool for the scheduler (a
// pd-ctl for regionkv): stores, regions, operators, schedulers, config,
// members, health, hot regions and store loads. It talks to the scheduler's HTTP JSON API (package
// scheduler/api) at --scheduler, the same address as its gRPC service
// (127.0.0.1:2379 by default). Output is a table for people, or with -o
// json the API's JSON for scripts. Keys are shown as text when printable
// and as 0x-hex otherwise; they are given as text, or as 0x-hex.
package ctl

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/scheduler/client/httpapi"
)

// legacySchedulerEnv is the variable ctl read before every tool shared
// REGIONKV_SCHEDULER; it is still read when that one is not set.
const legacySchedulerEnv = "REGIONKV_SCHEDULER_HTTP"

type options struct {
	scheduler string
	output    *cli.Output
	timeout   time.Duration
	out       io.Writer
	security  security.Config
}

// defaultScheduler is $REGIONKV_SCHEDULER, else the legacy variable, else
// the default address.
func defaultScheduler() string {
	if os.Getenv(cli.SchedulerEnv) == "" {
		if v := os.Getenv(legacySchedulerEnv); v != "" {
			return v
		}
	}
	return cli.Scheduler()
}

// NewCommand returns `regionkv ctl`.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Inspect and steer the cluster through the scheduler",
		Long: `Inspect and steer the cluster through the scheduler's HTTP API: stores,
regions, operators, schedulers, config, members, health.

--scheduler takes the scheduler's address, the one its gRPC service and HTTP
API share: by default $` + cli.SchedulerEnv + `, else ` + cli.DefaultScheduler + `. Several,
comma-separated, are asked in turn until one answers as the leader
(http:// in front of an address is optional). Tables by default; -o json
prints the API's JSON. Keys are given and shown as text, or 0x-prefixed hex.
With --cacert, --cert and --key, ctl speaks HTTPS with that client
certificate to the scheduler and to the stores' status addresses.`,
		Example: `  regionkv ctl store list
  regionkv ctl --scheduler 10.0.0.1:2379,10.0.0.5:2379 region list -o json
  regionkv ctl store health
  regionkv ctl --cacert ca.pem --cert client.pem --key client-key.pem store list`,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) { o.out = cmd.OutOrStdout() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.scheduler, "scheduler", defaultScheduler(),
		"scheduler addresses, comma-separated (env "+cli.SchedulerEnv+")")
	o.output = cli.OutputFlag(pf)
	pf.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	security.AddFlags(pf, &o.security)
	cmd.AddCommand(o.storeCmd(), o.regionCmd(), o.operatorCmd(), o.schedulerCmd(), o.configCmd(),
		o.memberCmd(), o.healthCmd(), o.clusterCmd(), o.hotCmd())
	return cmd
}

// call runs fn with a client and the command's deadline.
func (o *options) call(cmd *cobra.Command, fn func(context.Context, *httpapi.Client) error) error {
	sec, err := security.Load(o.security, nil)
	if errors.Is(err, security.ErrInvalid) {
		return &cli.UsageError{Cmd: cmd, Err: err}
	}
	if err != nil {
		return err
	}
	c, err := httpapi.New(o.scheduler, o.timeout, sec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	return fn(ctx, c)
}

// show prints raw as JSON with -o json, else calls table.
func (o *options) show(raw json.RawMessage, table func(w *tabwriter.Writer)) error {
	if *o.output == cli.JSON {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		return cli.WriteJSON(o.out, v)
	}
	w := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// getShow GETs path into v and shows it.
func (o *options) getShow(cmd *cobra.Command, path string, v any, table func(w *tabwriter.Writer)) error {
	return o.call(cmd, func(ctx context.Context, c *httpapi.Client) error {
		raw, err := c.Get(ctx, path, v)
		if err != nil {
			return err
		}
		return o.show(raw, table)
	})
}

// postShow sends method path with body, decodes the answer into v and
// shows it.
func (o *options) postShow(cmd *cobra.Command, method, path string, body, v any, table func(w *tabwriter.Writer)) error {
	return o.call(cmd, func(ctx context.Context, c *httpapi.Client) error {
		raw, err := c.Do(ctx, method, path, body)
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
	return cli.FormatKey(b)
}

// uintArg reads a numeric argument; a bad one is a usage error of cmd.
func uintArg(cmd *cobra.Command, s, what string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, cli.Usagef(cmd, "%s must be a number, got %q", what, s)
	}
	return v, nil
}

// parseKey reads a key argument; a bad one is a usage error of cmd.
func parseKey(cmd *cobra.Command, s string) ([]byte, error) {
	b, err := cli.ParseKey(s)
	if err != nil {
		return nil, &cli.UsageError{Cmd: cmd, Err: err}
	}
	return b, nil
}
