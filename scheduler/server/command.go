package server

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/regionkv/regionkv/proto/common/cli"
	"github.com/regionkv/regionkv/proto/common/logging"
	"github.com/regionkv/regionkv/proto/common/security"
	"github.com/regionkv/regionkv/scheduler/config"
)

// NewCommand returns `regionkv scheduler`. logger builds the logger from the
// config's [log] table once flags and the file are read.
func NewCommand(logger logging.Factory) *cobra.Command {
	cfg := config.Default()
	var configFile, endpoints string
	var printDefault, check bool
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run a scheduler (placement driver) member",
		Long: `Run a scheduler member: the pdpb.PD gRPC service, metadata in etcd, leader
election among members, and the scheduling of replicas and leaders.

--addr serves both the gRPC service and the HTTP API (ctl, /metrics, the
Prometheus discovery of every store's metrics). By default an embedded etcd
keeps the metadata in --data-dir; its client and peer ports are --addr's
port +2 and +1 unless given. With --etcd-endpoints the member uses that etcd
cluster instead. Several members (--initial-cluster name=peerURL,...) elect
one leader; the others answer with its address. Flags override the --config
TOML file; --config-check checks both and exits.

--cacert, --cert and --key (the [security] table) turn on mutual TLS: on
--addr, on the embedded etcd's client and peer URLs (give https:// peer URLs
in --initial-cluster), and towards an external etcd given as https://
endpoints. Certificates are re-read when their files change.`,
		Example: `  regionkv scheduler --data-dir /var/lib/regionkv/scheduler
  regionkv scheduler --name s1 --addr 10.0.0.1:2379 --data-dir /var/lib/regionkv/scheduler
  regionkv scheduler --config scheduler.toml --config-check
  regionkv scheduler --data-dir /var/lib/regionkv/scheduler --cacert ca.pem --cert scheduler.pem --key scheduler-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printDefault {
				var buf bytes.Buffer
				if err := toml.NewEncoder(&buf).Encode(config.Default()); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "# regionkv scheduler: default configuration. Flags override these keys.")
				fmt.Fprintln(cmd.OutOrStdout(), "# addr serves gRPC and the HTTP API (ctl, /metrics) alike.")
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
			return cli.RunServer(cmd, cli.Server{Validate: cfg.Validate, Check: check, Log: cfg.Log, Logger: logger,
				Serve: func(ctx context.Context, lg *zap.Logger) error {
					s, err := Start(cfg, lg)
					if err != nil {
						return err
					}
					<-ctx.Done()
					s.Close()
					return nil
				}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "TOML config file; flags given explicitly win")
	f.BoolVar(&printDefault, "print-default-config", false, "print the default config file and exit")
	f.BoolVar(&check, "config-check", false, "check the config file and flags, print the verdict and exit")
	f.StringVar(&cfg.Name, "name", cfg.Name, "member name, unique among scheduler members")
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address of the pdpb.PD gRPC service and the HTTP API")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", cfg.AdvertiseAddr, "address others dial (default: the bound --addr)")
	f.StringVar(&cfg.StatusAddr, "status-addr", cfg.StatusAddr, "also serve the HTTP API here")
	_ = f.MarkDeprecated("status-addr", "the HTTP API is served on --addr")
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory of the embedded etcd")
	f.StringVar(&endpoints, "etcd-endpoints", "", "external etcd client URLs, comma-separated (no embedded etcd)")
	f.StringVar(&cfg.EtcdClientAddr, "etcd-client-addr", cfg.EtcdClientAddr, "embedded etcd client listen address")
	f.StringVar(&cfg.PeerAddr, "peer-addr", cfg.PeerAddr, "embedded etcd peer listen address")
	f.StringVar(&cfg.InitialCluster, "initial-cluster", cfg.InitialCluster, "embedded etcd members: name=peerURL,...")
	f.DurationVar(&cfg.Schedule.MaxStoreDownTime.Duration, "max-store-down-time", cfg.Schedule.MaxStoreDownTime.Duration,
		"a store silent this long is Down and its replicas are rebuilt")
	f.IntVar(&cfg.Schedule.MaxReplicas, "max-replicas", cfg.Schedule.MaxReplicas, "replicas per region")
	security.AddServerFlags(f, &cfg.Security)
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
		"cacert":              func() { fileCfg.Security.CAPath = flagCfg.Security.CAPath },
		"cert":                func() { fileCfg.Security.CertPath = flagCfg.Security.CertPath },
		"key":                 func() { fileCfg.Security.KeyPath = flagCfg.Security.KeyPath },
		"cert-allowed-cn":     func() { fileCfg.Security.CertAllowedCN = flagCfg.Security.CertAllowedCN },
	}
	for name, apply := range set {
		if cmd.Flags().Changed(name) {
			apply()
		}
	}
}
