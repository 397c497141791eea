package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/regionkv/regionkv/client"
	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/security"
)

type options struct {
	target, scheduler, schedulerAPI, addr, endpoints string
	workload, dist, format, scanLenDist, keyPrefix   string
	records                                          uint64
	operations                                       int64
	duration, loadTimeout, opTimeout, splitTimeout   time.Duration
	threads, keySize, valueSize, batchSize, scanLen  int
	regions, conns                                   int
	seed                                             uint64
	serializable, quiet                              bool
	output                                           *cli.Output
	hotspot                                          Hotspot
	security                                         security.Config
	tls                                              *security.TLS // loaded from security by exec
}

// NewCommand returns `regionkv bench`: `bench load` writes the records,
// `bench run` runs the workload over them, and `bench` alone does both.
func NewCommand() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "benchmark regionkv (or etcd) with YCSB-style workloads: load, then run",
		Long: "Workloads: " + describeWorkloads() + "\n\n" +
			"`bench` loads --records records and runs the workload; `bench load` and `bench run` do one phase each.\n" +
			"--regions N pre-splits the key space into N regions (through the scheduler's HTTP API) before loading.\n" +
			"The report goes to stdout: a table, or JSON with -o json; progress to stderr.",
		Example: `  regionkv bench --workload a --records 100000 --threads 16 --duration 30s
  regionkv bench --addr 127.0.0.1:20160 --workload put -o json    # one standalone store
  regionkv bench --target etcd --endpoints 127.0.0.1:2379 --workload a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.exec(cmd, true, true) },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.target, "target", "regionkv", "system under test: regionkv or etcd")
	pf.StringVar(&o.scheduler, "scheduler", cli.Scheduler(),
		"regionkv scheduler addresses, comma-separated (env "+cli.SchedulerEnv+")")
	pf.StringVar(&o.schedulerAPI, "scheduler-api", "", "")
	_ = pf.MarkDeprecated("scheduler-api", "the HTTP API now shares --scheduler's address")
	pf.StringVar(&o.addr, "addr", "", "address of one standalone regionkv store, instead of a scheduler")
	cli.Alias(pf, "store", "addr")
	pf.StringVar(&o.endpoints, "endpoints", "127.0.0.1:2379", "etcd client endpoints, comma-separated (--target etcd)")
	pf.BoolVar(&o.serializable, "serializable", false, "etcd: serializable reads instead of linearizable")
	pf.IntVar(&o.conns, "conns", 2, "gRPC connections: per store for regionkv, in total for etcd")
	pf.StringVar(&o.workload, "workload", "a", "workload: "+strings.Join(WorkloadNames(), ", "))
	pf.StringVar(&o.dist, "distribution", "", "key distribution: uniform, zipfian, latest or hotspot (default: the workload's)")
	pf.Float64Var(&o.hotspot.Keys, "hotspot-keys", DefaultHotspot.Keys, "hotspot: fraction of the records in the hot set (mid key space)")
	pf.Float64Var(&o.hotspot.Ops, "hotspot-ops", DefaultHotspot.Ops, "hotspot: fraction of the operations on the hot set")
	pf.Uint64Var(&o.records, "records", 100000, "record count")
	pf.Int64Var(&o.operations, "operations", 0, "run phase: stop after this many operations (0: --duration only)")
	pf.DurationVar(&o.duration, "duration", 30*time.Second, "run phase: stop after this long")
	pf.DurationVar(&o.loadTimeout, "load-timeout", 10*time.Minute, "load phase: give up after this long")
	pf.DurationVar(&o.opTimeout, "op-timeout", 10*time.Second, "deadline of each operation")
	pf.IntVar(&o.threads, "threads", 16, "concurrent clients")
	pf.IntVar(&o.keySize, "key-size", 16, "key size in bytes, prefix included")
	pf.StringVar(&o.keyPrefix, "key-prefix", "u", "key prefix; the record number follows, zero-padded")
	pf.IntVar(&o.valueSize, "value-size", 128, "value size in bytes")
	pf.IntVar(&o.batchSize, "batch-size", 16, "keys per batch operation and per load request")
	pf.IntVar(&o.scanLen, "scan-length", 100, "most keys per scan")
	pf.StringVar(&o.scanLenDist, "scan-length-distribution", "uniform", "scan length: uniform in [1, --scan-length] or constant")
	pf.Uint64Var(&o.seed, "seed", 1, "random seed")
	pf.IntVar(&o.regions, "regions", 0, "pre-split the key space into this many regions before loading (regionkv)")
	pf.DurationVar(&o.splitTimeout, "split-timeout", 90*time.Second, "bound on waiting for the pre-split regions and their leaders")
	o.output = cli.OutputFlag(pf)
	pf.StringVar(&o.format, "format", "", "")
	_ = pf.MarkDeprecated("format", "use -o table|json")
	pf.BoolVar(&o.quiet, "quiet", false, "no live progress on stderr")
	security.AddFlags(pf, &o.security)
	cmd.AddCommand(
		&cobra.Command{Use: "load", Short: "pre-split (--regions) and write --records records", Args: cobra.NoArgs,
			Example: "  regionkv bench load --regions 64 --records 100000",
			RunE:    func(cmd *cobra.Command, _ []string) error { return o.exec(cmd, true, false) }},
		&cobra.Command{Use: "run", Short: "run --workload over loaded records", Args: cobra.NoArgs,
			Example: "  regionkv bench run --workload put --threads 16 --duration 20s",
			RunE:    func(cmd *cobra.Command, _ []string) error { return o.exec(cmd, false, true) }},
	)
	return cmd
}

func describeWorkloads() string {
	var parts []string
	for _, n := range WorkloadNames() {
		parts = append(parts, n+" ("+Workloads[n].Desc+")")
	}
	return strings.Join(parts, "; ")
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// apiAddr is the scheduler's HTTP API: --scheduler's first address (or the
// deprecated --scheduler-api).
func (o *options) apiAddr(cmd *cobra.Command) (string, error) {
	if o.schedulerAPI != "" {
		return o.schedulerAPI, nil
	}
	addrs := split(o.scheduler)
	if len(addrs) == 0 {
		return "", cli.Usagef(cmd, "--scheduler is empty")
	}
	return addrs[0], nil
}

func (o *options) open(ctx context.Context) (Target, error) {
	switch o.target {
	case "regionkv":
		return NewRegionkvTarget(ctx, split(o.scheduler), o.addr, client.WithConnsPerStore(o.conns),
			client.WithCredentials(o.tls.TransportCredentials()))
	case "etcd":
		return NewEtcdTarget(ctx, split(o.endpoints), o.conns, o.serializable, o.tls.ClientConfig())
	}
	return nil, fmt.Errorf("bench: unknown target %q (regionkv, etcd)", o.target)
}

func (o *options) config(w Workload, d time.Duration) Config {
	cfg := Config{Workload: w, Distribution: o.dist, Hotspot: o.hotspot, Records: o.records, Operations: o.operations, Duration: d,
		Threads: o.threads, KeySize: o.keySize, KeyPrefix: o.keyPrefix, ValueSize: o.valueSize, BatchSize: o.batchSize,
		ScanLength: o.scanLen, ScanLenDist: o.scanLenDist, OpTimeout: o.opTimeout, Seed: o.seed}
	if !o.quiet {
		cfg.Progress = os.Stderr
	}
	return cfg
}

func (o *options) exec(cmd *cobra.Command, load, run bool) error {
	switch o.format {
	case "": // not given
	case "text":
		*o.output = cli.Table
	case "json":
		*o.output = cli.JSON
	default:
		return cli.Usagef(cmd, "--format must be text or json")
	}
	if o.target != "regionkv" && o.target != "etcd" {
		return cli.Usagef(cmd, "unknown --target %q: regionkv or etcd", o.target)
	}
	w, err := LookupWorkload(o.workload)
	if err != nil {
		return err
	}
	if o.tls, err = security.Load(o.security, nil); err != nil {
		if errors.Is(err, security.ErrInvalid) {
			return &cli.UsageError{Cmd: cmd, Err: err}
		}
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if load && o.regions > 1 {
		if o.target != "regionkv" || o.addr != "" {
			return cli.Usagef(cmd, "--regions needs a regionkv cluster (--scheduler)")
		}
		addr, err := o.apiAddr(cmd)
		if err != nil {
			return err
		}
		if err := PreSplit(ctx, addr, o.tls, SplitKeys(o.keyPrefix, o.keySize, o.records, o.regions), o.splitTimeout, cmd.ErrOrStderr()); err != nil {
			return err
		}
	}
	t, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer t.Close()
	rep := &Report{}
	var phaseErr error
	if load {
		res, err := Load(ctx, t, o.config(w, o.loadTimeout))
		if res != nil {
			rep.Results = append(rep.Results, o.label(res))
		}
		phaseErr = err
	}
	if run && phaseErr == nil {
		res, err := Run(ctx, t, o.config(w, o.duration))
		if res != nil {
			rep.Results = append(rep.Results, o.label(res))
		}
		phaseErr = err
	}
	out := cmd.OutOrStdout()
	if *o.output == cli.JSON {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if phaseErr != nil {
		return phaseErr
	}
	return err
}

func (o *options) label(r *Result) *Result {
	r.Target = o.target
	if o.target == "regionkv" {
		r.Regions = o.regions
	}
	return r
}
