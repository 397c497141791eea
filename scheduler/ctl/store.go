package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"

	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/config"
)

func (o *options) storeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "List, show, check, take offline and weigh stores",
		Example: "  regionkv ctl store list\n  regionkv ctl store health"}
	list := &cobra.Command{
		Use: "list", Short: "List the stores: state, load, last heartbeat, version", Args: cobra.NoArgs,
		Example: "  regionkv ctl store list\n  regionkv ctl store list -o json",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v struct {
				Stores []api.StoreView `json:"stores"`
			}
			return o.getShow(cmd, "/stores", &v, func(w *tabwriter.Writer) { storeTable(w, v.Stores) })
		},
	}
	show := &cobra.Command{
		Use: "show STORE_ID", Short: "Show one store", Args: cobra.ExactArgs(1), Example: "  regionkv ctl store show 1",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "store ID")
			if err != nil {
				return err
			}
			var v api.StoreView
			return o.getShow(cmd, fmt.Sprintf("/stores/%d", id), &v, func(w *tabwriter.Writer) { storeTable(w, []api.StoreView{v}) })
		},
	}
	del := &cobra.Command{
		Use:     "delete STORE_ID",
		Short:   "Take a store offline: its replicas move elsewhere, then it becomes Tombstone",
		Example: "  regionkv ctl store delete 4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.setStoreState(cmd, args[0], "Offline")
		},
	}
	up := &cobra.Command{
		Use: "up STORE_ID", Short: "Bring an Offline store back Up (undo delete)", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl store up 4",
		RunE:    func(cmd *cobra.Command, args []string) error { return o.setStoreState(cmd, args[0], "Up") },
	}
	weight := &cobra.Command{
		Use:     "weight STORE_ID LEADER_WEIGHT REGION_WEIGHT",
		Short:   "Set a store's leader and region weights (a store of weight 2 gets twice the share)",
		Example: "  regionkv ctl store weight 1 2 1     # store 1 gets twice the leaders",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "store ID")
			if err != nil {
				return err
			}
			lw, err1 := strconv.ParseFloat(args[1], 64)
			rw, err2 := strconv.ParseFloat(args[2], 64)
			if err1 != nil || err2 != nil {
				return cli.Usagef(cmd, "weights must be numbers, got %q and %q", args[1], args[2])
			}
			var v api.StoreView
			return o.postShow(cmd, http.MethodPost, fmt.Sprintf("/stores/%d/weight", id),
				map[string]float64{"leader": lw, "region": rw}, &v, func(w *tabwriter.Writer) { storeTable(w, []api.StoreView{v}) })
		},
	}
	limit := &cobra.Command{
		Use:   "limit [N]",
		Short: "Show or set how many operators may run on one store at a time (all stores)",
		Long: `Show or set the store limit: how many operators may be in flight on any one
store. It applies to every store (the schedule config's store-limit); there is
no per-store limit yet.`,
		Example: "  regionkv ctl store limit\n  regionkv ctl store limit 16",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var sc config.Schedule
			table := func(w *tabwriter.Writer) { fmt.Fprintf(w, "store-limit\t%d\n", sc.StoreLimit) }
			if len(args) == 0 {
				return o.getShow(cmd, "/config", &sc, table)
			}
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return cli.Usagef(cmd, "limit must be a number, got %q", args[0])
			}
			return o.postShow(cmd, http.MethodPost, "/config", map[string]int{"store-limit": n}, &sc, table)
		},
	}
	cmd.AddCommand(list, show, o.storeHealthCmd(), del, up, weight, limit)
	return cmd
}

func (o *options) setStoreState(cmd *cobra.Command, arg, state string) error {
	id, err := uintArg(cmd, arg, "store ID")
	if err != nil {
		return err
	}
	var v api.StoreView
	return o.postShow(cmd, http.MethodPost, fmt.Sprintf("/stores/%d/state", id), map[string]string{"state": state}, &v,
		func(w *tabwriter.Writer) { storeTable(w, []api.StoreView{v}) })
}

func storeTable(w *tabwriter.Writer, stores []api.StoreView) {
	now := time.Now()
	fmt.Fprintln(w, "ID\tADDRESS\tSTATE\tLEADERS\tREGIONS\tSIZE\tWEIGHT(L/R)\tHEARTBEAT\tUP SINCE\tVERSION\tSTATUS ADDRESS")
	for _, s := range stores {
		state := s.State
		if s.MetaState != "" && s.MetaState != "Up" && s.MetaState != s.State {
			state += " (" + s.MetaState + ")"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%s\t%g/%g\t%s\t%s\t%s\t%s\n", s.ID, s.Address, state, s.LeaderCount, s.RegionCount,
			size(uint64(s.RegionSize)<<20), s.LeaderWeight, s.RegionWeight, age(s.LastHeartbeat, now), age(s.StartTime, now),
			orDash(s.Version), orDash(s.StatusAddress))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storeHealth is one store's answer to GET /health on its status address.
type storeHealth struct {
	ID            uint64         `json:"id"`
	Address       string         `json:"address"`
	StatusAddress string         `json:"status-address"`
	State         string         `json:"state"`
	Healthy       bool           `json:"healthy"`
	Health        map[string]any `json:"health,omitempty"`
	Error         string         `json:"error,omitempty"`
}

func (o *options) storeHealthCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Ask every store's /health on its status address; exit 1 if one is not healthy",
		Long: `Ask every store the scheduler knows (but Tombstone ones) for GET /health on
the status address it registered, in parallel, each within --timeout. Exit
status 1 when a store does not answer healthy, so that scripts can alert.`,
		Example: "  regionkv ctl store health\n  regionkv ctl store health -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c *client) error {
				var v struct {
					Stores []api.StoreView `json:"stores"`
				}
				if _, err := c.get(ctx, "/stores", &v); err != nil {
					return err
				}
				var rows []storeHealth
				for _, s := range v.Stores {
					if s.State != "Tombstone" {
						rows = append(rows, storeHealth{ID: s.ID, Address: s.Address, StatusAddress: s.StatusAddress, State: s.State})
					}
				}
				var wg sync.WaitGroup
				for i := range rows {
					wg.Add(1)
					go func() {
						defer wg.Done()
						checkHealth(ctx, c.http, c.scheme, &rows[i])
					}()
				}
				wg.Wait()
				raw, err := json.Marshal(rows)
				if err != nil {
					return err
				}
				if err := o.show(raw, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "ID\tADDRESS\tSTATUS ADDRESS\tSTATE\tHEALTHY\tERROR")
					for _, r := range rows {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%t\t%s\n", r.ID, r.Address, orDash(r.StatusAddress), r.State, r.Healthy, orDash(r.Error))
					}
				}); err != nil {
					return err
				}
				for _, r := range rows {
					if !r.Healthy {
						return cli.ExitError{Code: 1}
					}
				}
				return nil
			})
		},
	}
}

// checkHealth fills r from GET <scheme>://<status address>/health.
func checkHealth(ctx context.Context, hc *http.Client, scheme string, r *storeHealth) {
	if r.StatusAddress == "" {
		r.Error = "no status address registered (a store older than this scheduler?)"
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+r.StatusAddress+"/health", nil)
	if err != nil {
		r.Error = err.Error()
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		r.Error = err.Error()
		return
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r.Health); err != nil {
		r.Error = fmt.Sprintf("answered %d without a JSON body: %v", resp.StatusCode, err)
		return
	}
	healthy, _ := r.Health["healthy"].(bool)
	r.Healthy = resp.StatusCode == http.StatusOK && healthy
	if !r.Healthy {
		r.Error = fmt.Sprintf("answered %d, healthy=%t", resp.StatusCode, healthy)
	}
}

func (o *options) healthCmd() *cobra.Command {
	return &cobra.Command{
		Use: "health", Short: "Check that the scheduler answers, and whether it leads", Args: cobra.NoArgs,
		Example: "  regionkv ctl health\n  regionkv ctl --scheduler 10.0.0.1:2379,10.0.0.5:2379 health",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.call(cmd, func(ctx context.Context, c *client) error {
				// Ask every address: health is per member.
				type row struct {
					url     string
					healthy bool
					leader  bool
					err     error
				}
				var rows []row
				var raws []json.RawMessage
				for _, u := range c.urls {
					one := &client{urls: []string{u}, http: c.http}
					var v struct {
						Healthy bool `json:"healthy"`
						Leader  bool `json:"leader"`
					}
					raw, err := one.get(ctx, "/health", &v)
					rows = append(rows, row{u, v.Healthy, v.Leader, err})
					if err == nil {
						raws = append(raws, raw)
					}
				}
				all, _ := json.Marshal(raws)
				if err := o.show(all, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "SCHEDULER\tHEALTHY\tLEADER\tERROR")
					for _, r := range rows {
						e := ""
						if r.err != nil {
							e = r.err.Error()
						}
						fmt.Fprintf(w, "%s\t%t\t%t\t%s\n", r.url, r.healthy, r.leader, e)
					}
				}); err != nil {
					return err
				}
				for _, r := range rows {
					if r.err != nil {
						return r.err
					}
				}
				return nil
			})
		},
	}
}

func (o *options) clusterCmd() *cobra.Command {
	return &cobra.Command{
		Use: "cluster", Short: "Show the cluster at a glance: ID, leader, stores by state, regions", Args: cobra.NoArgs,
		Example: "  regionkv ctl cluster",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v api.ClusterView
			return o.getShow(cmd, "/cluster", &v, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "cluster-id\t%d\n", v.ClusterID)
				if v.Leader != nil {
					fmt.Fprintf(w, "leader\t%s %v\n", v.Leader.Name, v.Leader.ClientURLs)
				}
				states := make([]string, 0, len(v.Stores))
				for st, n := range v.Stores {
					states = append(states, fmt.Sprintf("%s=%d", st, n))
				}
				sort.Strings(states)
				fmt.Fprintf(w, "stores\t%s\n", strings.Join(states, " "))
				fmt.Fprintf(w, "regions\t%d\n", v.Regions)
				fmt.Fprintf(w, "max-replicas\t%d\n", v.MaxReplicas)
			})
		},
	}
}

func (o *options) memberCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "member", Short: "List the scheduler members and show the leader",
		Example: "  regionkv ctl member list\n  regionkv ctl member leader"}
	type members struct {
		Members []*api.MemberView `json:"members"`
		Leader  *api.MemberView   `json:"leader"`
	}
	list := &cobra.Command{
		Use: "list", Short: "List the scheduler members", Args: cobra.NoArgs, Example: "  regionkv ctl member list",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v members
			return o.getShow(cmd, "/members", &v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tMEMBER ID\tCLIENT URLS\tPEER URLS\tLEADER")
				for _, m := range v.Members {
					lead := v.Leader != nil && v.Leader.MemberID == m.MemberID
					fmt.Fprintf(w, "%s\t%d\t%v\t%v\t%t\n", m.Name, m.MemberID, m.ClientURLs, m.PeerURLs, lead)
				}
			})
		},
	}
	leader := &cobra.Command{
		Use: "leader", Short: "Show the leading scheduler member", Args: cobra.NoArgs, Example: "  regionkv ctl member leader",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v members
			return o.call(cmd, func(ctx context.Context, c *client) error {
				if _, err := c.get(ctx, "/members", &v); err != nil {
					return err
				}
				if v.Leader == nil {
					return fmt.Errorf("ctl: no scheduler leader right now")
				}
				raw, _ := json.Marshal(v.Leader)
				return o.show(raw, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "%s\t%d\t%v\n", v.Leader.Name, v.Leader.MemberID, v.Leader.ClientURLs)
				})
			})
		},
	}
	cmd.AddCommand(list, leader)
	return cmd
}
