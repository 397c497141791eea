package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is every phase of one invocation, as -o json prints it.
type Report struct {
	Results []*Result `json:"results"`
}

// WriteJSON prints the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints one table per phase: a row per operation kind.
func (r *Report) WriteText(w io.Writer) error {
	for _, res := range r.Results {
		fmt.Fprintf(w, "== %s %s: workload %s, %s keys, %d threads, %d records, key %dB, value %dB", res.Target, res.Phase,
			res.Workload, res.Dist, res.Threads, res.Records, res.KeySize, res.ValueSize)
		if res.Regions > 0 {
			fmt.Fprintf(w, ", %d regions", res.Regions)
		}
		fmt.Fprintf(w, ", %.1fs\n", res.ElapsedSec)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "OP\tCOUNT\tOPS/S\tAVG\tP50\tP95\tP99\tP99.9\tMAX\tERRORS\t")
		rows := append(append([]OpReport(nil), res.Ops...), res.Total)
		for _, o := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", o.Op, o.Count, o.OpsPerSec, fmtUs(int64(o.AvgUs)),
				fmtUs(o.P50Us), fmtUs(o.P95Us), fmtUs(o.P99Us), fmtUs(o.P999Us), fmtUs(o.MaxUs), errString(o))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func errString(o OpReport) string {
	if o.Errors == 0 {
		return "0"
	}
	var kinds []string
	for k, v := range o.ErrorKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d (%s)", o.Errors, strings.Join(kinds, " "))
}
