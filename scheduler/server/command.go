package server

import (
	"bytes"
	"fmt"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/scheduler/config"
)

// NewCommand returns `regionkv scheduler`. logger is called once flags are
// parsed, so that logging flags on the root command take effect.
func NewCommand(logger func() *zap.Logger) *cobra.Command {
	cfg := config.Default()
	var configFile, endpoints string
	var printDefault bool
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run a scheduler (placement driver) member",
		Long: `Run a scheduler member: the pdpb.PD gRPC service, metadata in etcd, leader
election among members, and the scheduling of replicas and leaders.

By default an embedded etcd keeps the metadata in --data-dir; its client and
peer ports are --addr's port +2 and +1 unless given. With --etcd-endpoints the
member uses that etcd cluster instead. Several members (--initial-cluster
name=peerURL,...) elect one leader; the others answer with its address.
Flags override the --config TOML file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printDefault {
				var buf bytes.Buffer
				if err := toml.NewEncoder(&buf).Encode(config.Default()); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "# regionkv scheduler: default configuration. Flags override these keys.")
				fmt.Fprintln(cmd.OutOrStdout(), "# An empty status-addr (the HTTP API and /metrics) means addr's port - 1 (2378 for 2379).")
				_, err := cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if configFile != "" {
				fileCfg := config.Default()
				if err := fileCfg.Load(configFile); err != nil {
					return err
				}
				applyChangedFlags(cmd, &fileCfg, &cfg)
				cfg = fileCfg
			}
			if endpoints != "" {
				cfg.EtcdEndpoints = strings.Split(endpoints, ",")
			}
			if cfg.StatusAddr == "" {
				cfg.StatusAddr = derivedStatusAddr(cfg.Addr)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s, err := Start(cfg, logger())
			if err != nil {
				return err
			}
			<-ctx.Done()
			s.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "TOML config file; flags given explicitly win")
	f.BoolVar(&printDefault, "print-default-config", false, "print the default config file and exit")
	f.StringVar(&cfg.Name, "name", cfg.Name, "member name, unique among scheduler members")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "gRPC listen address of the pdpb.PD service")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", cfg.AdvertiseAddr, "address others dial (default: the bound --addr)")
	f.StringVar(&cfg.StatusAddr, "status-addr", cfg.StatusAddr,
		"HTTP API and /metrics listen address (default: --addr's port - 1; port 0 if --addr's is 0)")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded etcd")
	f.StringVar(&endpoints, "etcd-endpoints", "", "external etcd client URLs, comma-separated (no embedded etcd)")
	f.StringVar(&cfg.EtcdClientAddr, "etcd-client-addr", cfg.EtcdClientAddr, "embedded etcd client listen address")
	f.StringVar(&cfg.PeerAddr, "peer-addr", cfg.PeerAddr, "embedded etcd peer listen address")
	f.StringVar(&cfg.InitialCluster, "initial-cluster", cfg.InitialCluster, "embedded etcd members: name=peerURL,...")
	f.DurationVar(&cfg.Schedule.MaxStoreDownTime.Duration, "max-store-down-time", cfg.Schedule.MaxStoreDownTime.Duration,
		"a store silent this long is Down and its replicas are rebuilt")
	f.IntVar(&cfg.Schedule.MaxReplicas, "max-replicas", cfg.Schedule.MaxReplicas, "replicas per region")
	return cmd
}

// applyChangedFlags copies the flags the user set explicitly from flagCfg
// onto fileCfg, so that flags override the file.
func applyChangedFlags(cmd *cobra.Command, fileCfg, flagCfg *config.Config) {
	set := map[string]func(){
		"name":                func() { fileCfg.Name = flagCfg.Name },
		"addr":                func() { fileCfg.Addr = flagCfg.Addr },
		"advertise-addr":      func() { fileCfg.AdvertiseAddr = flagCfg.AdvertiseAddr },
		"status-addr":         func() { fileCfg.StatusAddr = flagCfg.StatusAddr },
		"data-dir":            func() { fileCfg.DataDir = flagCfg.DataDir },
		"etcd-client-addr":    func() { fileCfg.EtcdClientAddr = flagCfg.EtcdClientAddr },
		"peer-addr":           func() { fileCfg.PeerAddr = flagCfg.PeerAddr },
		"initial-cluster":     func() { fileCfg.InitialCluster = flagCfg.InitialCluster },
		"max-store-down-time": func() { fileCfg.Schedule.MaxStoreDownTime = flagCfg.Schedule.MaxStoreDownTime },
		"max-replicas":        func() { fileCfg.Schedule.MaxReplicas = flagCfg.Schedule.MaxReplicas },
	}
	for name, apply := range set {
		if cmd.Flags().Changed(name) {
			apply()
		}
	}
}

// derivedStatusAddr puts the HTTP API next to the gRPC port: 2378 for
// 2379 (the embedded etcd takes +1 and +2), port 0 for port 0.
func derivedStatusAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "" // Validate reports the bad addr
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 1 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(n-1))
}
