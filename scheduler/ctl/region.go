package ctl

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"

	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/client/httpapi"
	"github.com/regionkv/regionkv/scheduler/config"
	"github.com/regionkv/regionkv/scheduler/operator"
)

type regionList struct {
	Count   int              `json:"count"`
	Total   int              `json:"total"`
	Regions []api.RegionView `json:"regions"`
}

func (o *options) regionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "region", Short: "List, show, find, split, scatter and check regions",
		Example: "  regionkv ctl region list\n  regionkv ctl region key banana"}
	var start, end string
	var limit int
	list := &cobra.Command{
		Use: "list", Short: "List regions in key order", Args: cobra.NoArgs,
		Example: "  regionkv ctl region list\n  regionkv ctl region list --start a --end m --limit 10",
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := rangeQuery(cmd, start, end, limit)
			if err != nil {
				return err
			}
			var v regionList
			return o.getShow(cmd, "/regions?"+q, &v, func(w *tabwriter.Writer) {
				regionTable(w, v.Regions)
				if v.Count < v.Total {
					fmt.Fprintf(w, "(%d of %d regions)\n", v.Count, v.Total)
				}
			})
		},
	}
	list.Flags().StringVar(&start, "start", "", "first key (text or 0x-hex)")
	list.Flags().StringVar(&end, "end", "", "end key, exclusive (text or 0x-hex)")
	list.Flags().IntVar(&limit, "limit", 0, "most regions to list (0: all)")
	show := &cobra.Command{
		Use: "show REGION_ID", Short: "Show one region", Args: cobra.ExactArgs(1), Example: "  regionkv ctl region show 2",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "region ID")
			if err != nil {
				return err
			}
			var v api.RegionView
			return o.getShow(cmd, fmt.Sprintf("/regions/%d", id), &v, func(w *tabwriter.Writer) { regionTable(w, []api.RegionView{v}) })
		},
	}
	key := &cobra.Command{
		Use: "key KEY", Short: "Show the region holding KEY (text or 0x-hex)", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl region key banana\n  regionkv ctl region key 0x00ff",
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(cmd, args[0])
			if err != nil {
				return err
			}
			var v api.RegionView
			return o.getShow(cmd, "/regions/key/"+hex.EncodeToString(k), &v, func(w *tabwriter.Writer) { regionTable(w, []api.RegionView{v}) })
		},
	}
	var splitKeys []string
	split := &cobra.Command{
		Use:     "split REGION_ID --keys K1,K2,...",
		Short:   "Split a region at the given keys (an operator the region's leader executes)",
		Example: "  regionkv ctl region split 2 --keys b\n  regionkv ctl region split 2 --keys g,0x6d00",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.addOperator(cmd, "split", args[0], "", splitKeys)
		},
	}
	split.Flags().StringSliceVar(&splitKeys, "keys", nil, "split keys, text or 0x-hex (required)")
	_ = split.MarkFlagRequired("keys")
	scatter := &cobra.Command{
		Use: "scatter REGION_ID", Short: "Move a region's replicas to the stores holding the fewest regions", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl region scatter 2",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "region ID")
			if err != nil {
				return err
			}
			var v operator.View
			return o.postShow(cmd, http.MethodPost, fmt.Sprintf("/regions/%d/scatter", id), struct{}{}, &v,
				func(w *tabwriter.Writer) { operatorTable(w, []operator.View{v}) })
		},
	}
	check := &cobra.Command{
		Use:     "check down|pending|miss-peer|extra-peer|no-leader",
		Short:   "List the regions with down, pending, missing or extra replicas, or no leader",
		Example: "  regionkv ctl region check miss-peer\n  regionkv ctl region check no-leader -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.checkRegions(cmd, args[0])
		},
	}
	cmd.AddCommand(list, show, key, split, scatter, check)
	return cmd
}

func rangeQuery(cmd *cobra.Command, start, end string, limit int) (string, error) {
	s, err := parseKey(cmd, start)
	if err != nil {
		return "", err
	}
	e, err := parseKey(cmd, end)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set("start", hex.EncodeToString(s))
	q.Set("end", hex.EncodeToString(e))
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return q.Encode(), nil
}

// checks are the region checks by name: whether a region fails it.
var checks = map[string]func(r *api.RegionView, maxReplicas int) bool{
	"down":       func(r *api.RegionView, _ int) bool { return len(r.DownPeers) > 0 },
	"pending":    func(r *api.RegionView, _ int) bool { return len(r.PendingPeers) > 0 },
	"miss-peer":  func(r *api.RegionView, n int) bool { return len(r.Peers) < n },
	"extra-peer": func(r *api.RegionView, n int) bool { return len(r.Peers) > n },
	"no-leader":  func(r *api.RegionView, _ int) bool { return r.Leader == nil },
}

func (o *options) checkRegions(cmd *cobra.Command, name string) error {
	check, ok := checks[name]
	if !ok {
		return cli.Usagef(cmd, "unknown check %q: want down, pending, miss-peer, extra-peer or no-leader", name)
	}
	return o.call(cmd, func(ctx context.Context, c *httpapi.Client) error {
		var sc config.Schedule
		if _, err := c.Get(ctx, "/config", &sc); err != nil {
			return err
		}
		var all regionList
		if _, err := c.Get(ctx, "/regions", &all); err != nil {
			return err
		}
		out := regionList{Regions: []api.RegionView{}}
		for i := range all.Regions {
			if check(&all.Regions[i], sc.MaxReplicas) {
				out.Regions = append(out.Regions, all.Regions[i])
			}
		}
		out.Count, out.Total = len(out.Regions), all.Total
		raw, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return o.show(raw, func(w *tabwriter.Writer) {
			regionTable(w, out.Regions)
			fmt.Fprintf(w, "(%d of %d regions: %s)\n", out.Count, out.Total, name)
		})
	})
}

func regionTable(w *tabwriter.Writer, regions []api.RegionView) {
	fmt.Fprintln(w, "ID\tSTART\tEND\tVERSION\tCONF VER\tLEADER (STORE)\tPEERS (STORE)\tDOWN\tPENDING\tKEYS\tSIZE")
	for _, r := range regions {
		leader := "-"
		if r.Leader != nil {
			leader = fmt.Sprintf("%d (%d)", r.Leader.ID, r.Leader.StoreID)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, showKey(r.StartKey, "-inf"), showKey(r.EndKey, "+inf"),
			r.Version, r.ConfVer, leader, peerList(r.Peers), peerList(r.DownPeers), peerList(r.PendingPeers),
			r.ApproximateKeys, size(r.ApproximateSize))
	}
}

func peerList(ps []api.PeerView) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprintf("%d(%d)", p.ID, p.StoreID)
		if p.Role != "" && p.Role != "Voter" {
			s[i] += p.Role
		}
	}
	return strings.Join(s, ",")
}
