package ctl

import (
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/units"

	"github.com/regionkv/regionkv/scheduler/api"
)

func (o *options) hotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hot", Short: "Show the hot regions and the load of each store",
		Long: `Show the load the scheduler sees, from the heartbeats: per region and per
store, the bytes, keys and requests read and written per second, averaged
over hot-region-window (config show). A region is hot once
hot-region-cache-hits-threshold heartbeats in a row found it busy; the
balance-hot-region scheduler moves hot leaders and peers off the busiest
stores.`,
		Example: "  regionkv ctl hot write\n  regionkv ctl hot read --by queries --limit 5\n  regionkv ctl hot store"}
	regions := func(kind string) *cobra.Command {
		var by string
		var limit int
		var all bool
		c := &cobra.Command{
			Use: kind, Short: "List the hot " + kind + " regions, the busiest first", Args: cobra.NoArgs,
			Example: "  regionkv ctl hot " + kind + " --by queries",
			RunE: func(cmd *cobra.Command, _ []string) error {
				switch by {
				case "bytes", "keys", "queries":
				default:
					return cli.Usagef(cmd, "--by must be bytes, keys or queries, got %q", by)
				}
				if limit < 1 {
					return cli.Usagef(cmd, "--limit must be at least 1, got %d", limit)
				}
				q := url.Values{"by": {by}, "limit": {strconv.Itoa(limit)}, "all": {strconv.FormatBool(all)}}
				var v api.HotRegionsView
				return o.getShow(cmd, "/hotspot/regions/"+kind+"?"+q.Encode(), &v, func(w *tabwriter.Writer) { hotRegionTable(w, v) })
			},
		}
		c.Flags().StringVar(&by, "by", "bytes", "sort by bytes, keys or queries per second")
		c.Flags().IntVar(&limit, "limit", 20, "most regions to list")
		c.Flags().BoolVar(&all, "all", false, "list every region with a known load, hot or not")
		return c
	}
	store := &cobra.Command{
		Use: "store", Short: "Show each store's load: as leader, as replica, and as it reports itself", Args: cobra.NoArgs,
		Example: "  regionkv ctl hot store",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v struct {
				Stores []api.StoreLoadView `json:"stores"`
			}
			return o.getShow(cmd, "/hotspot/stores", &v, func(w *tabwriter.Writer) { hotStoreTable(w, v.Stores) })
		},
	}
	cmd.AddCommand(regions("read"), regions("write"), store)
	return cmd
}

// rate shows a per-second rate: "1.5 MiB/s", "120/s".
func rate(v float64, bytes bool) string {
	if bytes {
		return units.Bytes(uint64(v+0.5)).Human() + "/s"
	}
	if v < 10 && v != float64(int64(v)) {
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.0f/s", v)
}

func hotRegionTable(w *tabwriter.Writer, v api.HotRegionsView) {
	fmt.Fprintln(w, "REGION\tLEADER STORE\tSTORES\tSTART\tEND\tBYTES\tKEYS\tQUERIES\tHOT DEGREE")
	for _, r := range v.Regions {
		hot := strconv.Itoa(r.HotDegree)
		if !r.Hot {
			hot += " (not hot)"
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.RegionID, r.LeaderStore, storeIDs(r.Stores),
			showKey(r.StartKey, "-inf"), showKey(r.EndKey, "+inf"), rate(r.Bytes, true), rate(r.Keys, false),
			rate(r.Queries, false), hot)
	}
	if len(v.Regions) < v.Total {
		fmt.Fprintf(w, "(%d of %d regions)\n", len(v.Regions), v.Total)
	}
	if v.Total == 0 {
		fmt.Fprintf(w, "(no hot %s region)\n", v.Kind)
	}
}

func storeIDs(ids []uint64) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += strconv.FormatUint(id, 10)
	}
	return s
}

func hotStoreTable(w *tabwriter.Writer, stores []api.StoreLoadView) {
	fmt.Fprintln(w, "STORE\tREAD (LEADER)\tREAD QPS\tWRITE (LEADER)\tWRITE QPS\tWRITE (REPLICAS)\tHOT LEADERS R/W\tHOT REPLICAS W\tREPORTED READ\tREPORTED WRITE")
	for _, s := range stores {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", s.StoreID,
			rate(s.ReadLeader.Bytes, true), rate(s.ReadLeader.Queries, false),
			rate(s.WriteLeader.Bytes, true), rate(s.WriteLeader.Queries, false), rate(s.WritePeer.Bytes, true),
			s.HotReadLeaders, s.HotWriteLeaders, s.HotWritePeers,
			rate(s.ReportedRead.Bytes, true), rate(s.ReportedWrite.Bytes, true))
	}
}
