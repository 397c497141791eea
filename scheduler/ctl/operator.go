package ctl

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/proto/common/cli"

	"github.com/regionkv/regionkv/scheduler/api"
	"github.com/regionkv/regionkv/scheduler/operator"
)

func (o *options) operatorCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "operator", Short: "List, add and cancel operators",
		Example: "  regionkv ctl operator list\n  regionkv ctl operator add transfer-leader 2 4"}
	list := &cobra.Command{
		Use: "list", Short: "List the running operators", Args: cobra.NoArgs, Example: "  regionkv ctl operator list",
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v []operator.View
			return o.getShow(cmd, "/operators", &v, func(w *tabwriter.Writer) { operatorTable(w, v) })
		},
	}
	show := &cobra.Command{
		Use: "show REGION_ID", Short: "Show a region's running or last finished operator", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl operator show 2",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "region ID")
			if err != nil {
				return err
			}
			var v operator.View
			return o.getShow(cmd, fmt.Sprintf("/operators/%d", id), &v, func(w *tabwriter.Writer) { operatorTable(w, []operator.View{v}) })
		},
	}
	add := &cobra.Command{Use: "add", Short: "Add an operator by hand",
		Example: "  regionkv ctl operator add add-peer 2 4\n  regionkv ctl operator add remove-peer 2 1"}
	add.AddCommand(
		&cobra.Command{
			Use: "transfer-leader REGION_ID TO_STORE_ID", Short: "Move a region's leadership to the peer on a store", Args: cobra.ExactArgs(2),
			Example: "  regionkv ctl operator add transfer-leader 2 4",
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.addOperator(cmd, "transfer-leader", args[0], args[1], nil)
			},
		},
		&cobra.Command{
			Use: "add-peer REGION_ID STORE_ID", Short: "Add a replica of a region on a store", Args: cobra.ExactArgs(2),
			Example: "  regionkv ctl operator add add-peer 2 4",
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.addOperator(cmd, "add-peer", args[0], args[1], nil)
			},
		},
		&cobra.Command{
			Use: "remove-peer REGION_ID STORE_ID", Short: "Remove a region's replica from a store", Args: cobra.ExactArgs(2),
			Example: "  regionkv ctl operator add remove-peer 2 1",
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.addOperator(cmd, "remove-peer", args[0], args[1], nil)
			},
		},
	)
	var keys []string
	splitCmd := &cobra.Command{
		Use: "split-region REGION_ID --keys K1,K2,...", Short: "Split a region at the given keys", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl operator add split-region 2 --keys b,m",
		RunE:    func(cmd *cobra.Command, args []string) error { return o.addOperator(cmd, "split", args[0], "", keys) },
	}
	splitCmd.Flags().StringSliceVar(&keys, "keys", nil, "split keys, text or 0x-hex (required)")
	_ = splitCmd.MarkFlagRequired("keys")
	add.AddCommand(splitCmd)
	cancel := &cobra.Command{
		Use: "cancel REGION_ID", Short: "Cancel a region's running operator", Args: cobra.ExactArgs(1),
		Example: "  regionkv ctl operator cancel 2",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uintArg(cmd, args[0], "region ID")
			if err != nil {
				return err
			}
			return o.postShow(cmd, http.MethodDelete, fmt.Sprintf("/operators/%d", id), nil, nil, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "canceled the operator of region %d\n", id)
			})
		},
	}
	cmd.AddCommand(list, show, add, cancel)
	return cmd
}

// addOperator asks for operator name on a region; store is the target
// (transfer-leader, add-peer) or the source (remove-peer).
func (o *options) addOperator(cmd *cobra.Command, name, regionArg, storeArg string, keys []string) error {
	region, err := uintArg(cmd, regionArg, "region ID")
	if err != nil {
		return err
	}
	req := api.OperatorRequest{Name: name, RegionID: region}
	if storeArg != "" {
		store, err := uintArg(cmd, storeArg, "store ID")
		if err != nil {
			return err
		}
		if name == "remove-peer" {
			req.FromStore = store
		} else {
			req.ToStore = store
		}
	}
	for _, k := range keys {
		b, err := parseKey(cmd, k)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return cli.Usagef(cmd, "empty split key")
		}
		req.SplitKeys = append(req.SplitKeys, hex.EncodeToString(b))
	}
	var v operator.View
	return o.postShow(cmd, http.MethodPost, "/operators", req, &v, func(w *tabwriter.Writer) { operatorTable(w, []operator.View{v}) })
}

func operatorTable(w *tabwriter.Writer, ops []operator.View) {
	now := time.Now()
	fmt.Fprintln(w, "REGION\tDESC\tKIND\tSTATUS\tSTEP\tSTEPS\tCREATED")
	for _, op := range ops {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", op.RegionID, op.Desc, op.Kind, op.Status, op.Step, len(op.Steps),
			strings.Join(op.Steps, "; "), age(op.Created, now))
	}
}
