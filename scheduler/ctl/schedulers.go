package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/units"

	"github.com/regionkv/regionkv/scheduler/client/httpapi"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/schedulers"
)

type schedulerList struct {
	Running   []schedulers.Status `json:"running"`
	Available []string            `json:"available"`
}

func (o *options) schedulerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scheduler", Short: "List, add, remove, pause, resume and describe the balance schedulers",
		Example: "  regionkv ctl scheduler list\n  regionkv ctl scheduler pause balance-region 10m"}
	var v schedulerList
	table := func(w *tabwriter.Writer) { schedulerTable(w, v) }
	list := &cobra.Command{
		Use: "list", Short: "List the running schedulers and the available ones", Args: cobra.NoArgs,
		Example: "  regionkv ctl scheduler list",
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.getShow(cmd, "/schedulers", &v, table) },
	}
	add := &cobra.Command{
		Use: "add NAME", Short: "Start a scheduler (see list for the available names)", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl scheduler add balance-leader",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.postShow(cmd, http.MethodPost, "/schedulers", map[string]string{"name": args[0]}, &v, table)
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Stop a scheduler", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl scheduler remove balance-region",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.postShow(cmd, http.MethodDelete, "/schedulers/"+url.PathEscape(args[0]), nil, &v, table)
		},
	}
	pause := &cobra.Command{
		Use: "pause NAME DURATION", Short: "Pause a scheduler for a while (e.g. 10m, 2h; 0 resumes it)", Args: cobra.ExactArgs(2),
		Example: "  regionkv ctl scheduler pause balance-region 10m",
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := units.ParseDuration(args[1])
			if err != nil || d < 0 {
				return cli.Usagef(cmd, "duration %q: want e.g. 10m or 2h", args[1])
			}
			return o.postShow(cmd, http.MethodPost, "/schedulers/"+url.PathEscape(args[0])+"/pause",
				map[string]float64{"seconds": d.Seconds()}, &v, table)
		},
	}
	resume := &cobra.Command{
		Use: "resume NAME", Short: "Resume a paused scheduler", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl scheduler resume balance-region",
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.postShow(cmd, http.MethodPost, "/schedulers/"+url.PathEscape(args[0])+"/pause",
				map[string]float64{"seconds": 0}, &v, table)
		},
	}
	describe := &cobra.Command{
		Use: "describe NAME", Short: "Show what a scheduler last did, or why it did nothing", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl scheduler describe balance-region",
		RunE:    func(cmd *cobra.Command, args []string) error { return o.describeScheduler(cmd, args[0]) },
	}
	cmd.AddCommand(list, add, remove, pause, resume, describe)
	return cmd
}

func (o *options) describeScheduler(cmd *cobra.Command, name string) error {
	return o.call(cmd, func(ctx context.Context, c *httpapi.Client) error {
		var all schedulerList
		if _, err := c.Get(ctx, "/schedulers", &all); err != nil {
			return err
		}
		for _, st := range all.Running {
			if st.Name != name {
				continue
			}
			raw, err := json.Marshal(st)
			if err != nil {
				return err
			}
			return o.show(raw, func(w *tabwriter.Writer) {
				reason := st.LastReason
				if reason == "" {
					reason = "-"
				}
				fmt.Fprintf(w, "name\t%s\n", st.Name)
				fmt.Fprintf(w, "paused\t%t\n", st.Paused)
				if !st.PausedUntil.IsZero() {
					fmt.Fprintf(w, "paused until\t%s (%s)\n", st.PausedUntil.Format(time.RFC3339), fmtTime(st.PausedUntil))
				}
				fmt.Fprintf(w, "last run\t%s\n", fmtTime(st.LastRun))
				fmt.Fprintf(w, "operators created\t%d\n", st.Operators)
				fmt.Fprintf(w, "last result\t%s\n", reason)
			})
		}
		return fmt.Errorf("ctl: scheduler %q is not running (running: %s)", name, names(all.Running))
	})
}

func names(ss []schedulers.Status) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

// fmtTime shows t as an age ("4s ago", "in 9m").
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return age(t.Format(time.RFC3339Nano), time.Now())
}

func schedulerTable(w *tabwriter.Writer, v schedulerList) {
	fmt.Fprintln(w, "NAME\tPAUSED\tLAST RUN\tOPERATORS\tLAST RESULT")
	for _, s := range v.Running {
		reason := s.LastReason
		if reason == "" {
			reason = "-"
		}
		fmt.Fprintf(w, "%s\t%t\t%s\t%d\t%s\n", s.Name, s.Paused, fmtTime(s.LastRun), s.Operators, reason)
	}
	fmt.Fprintf(w, "(available: %s)\n", strings.Join(v.Available, ", "))
}

func (o *options) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show and set the schedule config",
		Example: "  regionkv ctl config show\n  regionkv ctl config set max-replicas 5"}
	var sc config.Schedule
	table := func(w *tabwriter.Writer) { configTable(w, sc) }
	show := &cobra.Command{
		Use: "show", Short: "Show the schedule config", Args: cobra.NoArgs, Example: "  regionkv ctl config show",
		RunE: func(cmd *cobra.Command, _ []string) error { return o.getShow(cmd, "/config", &sc, table) },
	}
	set := &cobra.Command{
		Use:     "set KEY VALUE",
		Short:   "Set one schedule knob (persisted; e.g. max-replicas 3, max-store-down-time 1h)",
		Example: "  regionkv ctl config set max-replicas 5\n  regionkv ctl config set max-store-down-time 1h",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// VALUE is JSON (3, 0.5, ["a"]) or else a string (1h).
			val := json.RawMessage(args[1])
			if !json.Valid(val) {
				val, _ = json.Marshal(args[1])
			}
			return o.postShow(cmd, http.MethodPost, "/config", map[string]json.RawMessage{args[0]: val}, &sc, table)
		},
	}
	cmd.AddCommand(show, set)
	return cmd
}

func configTable(w *tabwriter.Writer, sc config.Schedule) {
	b, _ := json.Marshal(sc)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(m[k])
		fmt.Fprintf(w, "%s\t%s\n", k, strings.Trim(string(v), `"`))
	}
}
