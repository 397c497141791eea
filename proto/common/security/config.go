// Package security is mutual TLS for every regionkv connection, the way
// TiKV and PD do it: one CA, and each process presents a certificate
// signed by it, whichever side of a connection it is on. A server refuses
// a client without such a certificate, and, when cert-allowed-cn is set,
// one whose certificate's common name is not listed.
//
// The files are re-read when they change, without a restart: each TLS
// handshake stats them (three stat calls, cheap next to the handshake
// itself) and loads them again when one changed, keeping the last good
// set while a rotation is half written.
//
// Every component may import this package (it sits with the other shared
// leaves in proto/common and imports nothing of ours).
package security

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

// ErrInvalid is wrapped by every configuration error.
var ErrInvalid = errors.New("security: invalid")

// Config is the [security] table of a store's and a scheduler's config
// file, and what the --cacert, --cert and --key flags of every command
// set. All three paths or none: none means plaintext.
type Config struct {
	// CAPath is the PEM file of the CA (or CAs) that signs every
	// certificate of the cluster.
	CAPath string `toml:"ca-path" json:"ca-path"`
	// CertPath and KeyPath are this process's certificate (PEM, with any
	// intermediates after it) and its private key. A server presents it
	// to clients and, as a client, to the servers it dials.
	CertPath string `toml:"cert-path" json:"cert-path"`
	KeyPath  string `toml:"key-path" json:"key-path"`
	// CertAllowedCN, when not empty, lists the common names a peer's
	// certificate must carry for a server to accept it; empty accepts
	// any certificate the CA signed.
	CertAllowedCN []string `toml:"cert-allowed-cn" json:"cert-allowed-cn"`
}

// Enabled reports whether TLS is configured.
func (c Config) Enabled() bool { return c.CAPath != "" || c.CertPath != "" || c.KeyPath != "" }

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if !c.Enabled() {
		if len(c.CertAllowedCN) > 0 {
			return fmt.Errorf("%w: cert-allowed-cn needs ca-path, cert-path and key-path", ErrInvalid)
		}
		return nil
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"ca-path", c.CAPath}, {"cert-path", c.CertPath}, {"key-path", c.KeyPath}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: TLS needs ca-path, cert-path and key-path (--cacert, --cert, --key); %s not set",
			ErrInvalid, strings.Join(missing, " and "))
	}
	for _, cn := range c.CertAllowedCN {
		if strings.TrimSpace(cn) == "" {
			return fmt.Errorf("%w: cert-allowed-cn has an empty name", ErrInvalid)
		}
	}
	return nil
}

// AddFlags defines --cacert, --cert and --key on fs, bound to c.
func AddFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.CAPath, "cacert", c.CAPath, "TLS: PEM file of the cluster's CA (with --cert and --key; all three or none)")
	fs.StringVar(&c.CertPath, "cert", c.CertPath, "TLS: PEM certificate this process presents, signed by --cacert")
	fs.StringVar(&c.KeyPath, "key", c.KeyPath, "TLS: PEM private key of --cert")
}

// AddServerFlags defines AddFlags' flags and --cert-allowed-cn.
func AddServerFlags(fs *pflag.FlagSet, c *Config) {
	AddFlags(fs, c)
	fs.Var(nameList{&c.CertAllowedCN}, "cert-allowed-cn",
		"TLS: accept only peers whose certificate has one of these common names (comma-separated; default: any the CA signed)")
}

// nameList is a comma-separated flag value whose Set replaces the list
// (pflag's string slices append when set twice, and commands that lay
// flags over a config file set them again).
type nameList struct{ p *[]string }

func (l nameList) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l nameList) Set(s string) error {
	out := []string{}
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	*l.p = out
	return nil
}

func (l nameList) Type() string { return "names" }

// WarnIfExposed logs a loud warning for every address of what that is
// reachable from other machines while TLS is off: anyone who reaches it
// can read and change all data.
func WarnIfExposed(logger *zap.Logger, c Config, what string, addrs ...string) {
	if c.Enabled() || logger == nil {
		return
	}
	for _, a := range addrs {
		if a == "" || IsLoopback(a) {
			continue
		}
		logger.Warn("SECURITY: listening on a non-loopback address without TLS: anyone who can reach it can read and change "+
			"every key and the cluster's configuration; set [security] (or --cacert, --cert, --key) to require "+
			"certificates", zap.String("component", what), zap.String("addr", a))
	}
}

// IsLoopback reports whether addr (host:port) listens on loopback only.
// An empty host, an unspecified IP and any host name but localhost count
// as reachable from elsewhere.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
