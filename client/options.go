package client

import (
	"crypto/tls"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults of the options.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultRetryBudget    = 64
	DefaultMinBackoff     = 2 * time.Millisecond
	DefaultMaxBackoff     = 500 * time.Millisecond
	DefaultConnsPerStore  = 2
	// DefaultMaxScanLimit is the store's default max-scan-limit: the most
	// pairs one Scan or ReverseScan may ask for.
	DefaultMaxScanLimit = 10240
	// DefaultMaxMsgSize bounds one gRPC message each way; it matches the
	// store's default max-grpc-msg-len.
	DefaultMaxMsgSize = 64 << 20
	// DefaultBatchPartSize bounds one per-region RPC of a batch call: at
	// most this many keys, and at most DefaultBatchPartBytes of keys and
	// values. Larger parts are sent as several RPCs.
	DefaultBatchPartSize  = 4096
	DefaultBatchPartBytes = 16 << 20
)

type config struct {
	requestTimeout         time.Duration
	retryBudget            int
	minBackoff, maxBackoff time.Duration
	connsPerStore          int
	maxScanLimit           int
	maxMsgSize             int
	cf                     string
	logger                 *zap.Logger
	creds                  credentials.TransportCredentials
}

func defaultConfig() config {
	return config{
		requestTimeout: DefaultRequestTimeout,
		retryBudget:    DefaultRetryBudget,
		minBackoff:     DefaultMinBackoff,
		maxBackoff:     DefaultMaxBackoff,
		connsPerStore:  DefaultConnsPerStore,
		maxScanLimit:   DefaultMaxScanLimit,
		maxMsgSize:     DefaultMaxMsgSize,
		logger:         zap.NewNop(),
		creds:          insecure.NewCredentials(),
	}
}

// Option configures a RawClient.
type Option func(*config)

// WithRequestTimeout bounds each RPC attempt (not the whole call, which the
// caller's context bounds): a store that does not answer within d is treated
// like an unreachable one, and the request goes to another peer.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.requestTimeout = d
		}
	}
}

// WithRetryBudget caps how many times one request (or one per-region part
// of a batch or scan) is retried after region errors and (reads only)
// transport failures. When it runs out the call fails with
// ErrRetriesExhausted.
func WithRetryBudget(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.retryBudget = n
		}
	}
}

// WithBackoff sets the first and the largest wait between retries; the wait
// doubles from min up to max.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 {
			c.minBackoff = min
		}
		if max >= c.minBackoff {
			c.maxBackoff = max
		}
	}
}

// WithConnsPerStore sets how many gRPC connections the client keeps to each
// store; requests spread over them round-robin.
func WithConnsPerStore(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.connsPerStore = n
		}
	}
}

// WithMaxScanLimit sets the largest limit Scan accepts (it must not exceed
// the stores' max-scan-limit).
func WithMaxScanLimit(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxScanLimit = n
		}
	}
}

// WithColumnFamily makes every request of the client use column family cf
// ("default", "lock" or "write"; empty means default).
func WithColumnFamily(cf string) Option {
	return func(c *config) { c.cf = cf }
}

// WithTLS makes the client speak TLS with cfg to the scheduler and to every
// store: a cluster with mutual TLS needs cfg.RootCAs (its CA) and a client
// certificate it signed (cfg.Certificates, or cfg.GetClientCertificate,
// which is asked at every connection and so can follow a certificate
// rotated on disk). The server name is each address's host. A nil cfg
// means plaintext, the default.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) {
		if cfg == nil {
			c.creds = insecure.NewCredentials()
			return
		}
		c.creds = credentials.NewTLS(cfg)
	}
}

// WithCredentials is WithTLS for gRPC transport credentials built
// elsewhere: the regionkv tools pass credentials that take the CA and the
// certificate from their files afresh at every connection, so that a
// long-running client follows a rotation of the CA too. nil means
// plaintext.
func WithCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) {
		if creds == nil {
			creds = insecure.NewCredentials()
		}
		c.creds = creds
	}
}

// WithLogger logs retries and cache changes at debug level.
func WithLogger(l *zap.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
