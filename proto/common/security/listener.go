package security

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// HandshakeTimeout bounds a TLS handshake on a server port, and the
// refusal of a plaintext client.
const HandshakeTimeout = 10 * time.Second

// PlaintextRefusal is what a plaintext client of a TLS port is told: as a
// gRPC status message (code Unauthenticated) or an HTTP 400 body.
const PlaintextRefusal = "regionkv: this port requires TLS with a client certificate signed by the cluster's CA, " +
	"and this client connected in plaintext (give --cacert, --cert and --key)"

// cnRefusal is what a client whose certificate's CN is not allowed is
// told: as a gRPC status message (code PermissionDenied) or an HTTP 403
// body. The allowed names are not disclosed.
func cnRefusal(cn string) string {
	return fmt.Sprintf("regionkv: this server's cert-allowed-cn does not admit certificate CN %q", cn)
}

// Listen wraps lis, a server's port, in mutual TLS: Accept returns only
// connections that completed a handshake with a client certificate the
// CA signed, with an allowed CN, offering nextProtos in ALPN (as
// *tls.Conn, so net/http and gRPC see the peer's certificate). With a nil
// t it returns lis.
//
// Handshakes run off the Accept path, each bounded by HandshakeTimeout,
// so that a slow or silent client holds up nobody. Every refusal is
// logged with its reason. A certificate the CA did not sign, or one that
// expired, fails the handshake: the client hears why as a TLS alert. A
// client speaking plaintext, or presenting a good certificate with a CN
// that is not allowed, is answered in its own protocol (a gRPC status,
// or an HTTP 400 or 403) with a message that says why, so that the client
// can tell its user; nothing it sends goes any further.
func (t *TLS) Listen(lis net.Listener, logger *zap.Logger, nextProtos ...string) net.Listener {
	if t == nil {
		return lis
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	l := &listener{
		Listener: lis,
		tls:      t,
		cfg:      t.serverConfig(false, nextProtos...),
		// A port scan or a misconfigured client in a loop must not
		// flood the log: a few lines a second, then one in a hundred.
		logger: logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, 5, 100)
		})),
		accepted:   make(chan acceptResult),
		done:       make(chan struct{}),
		handshakes: map[net.Conn]struct{}{},
		plain:      &chanListener{addr: lis.Addr(), conns: make(chan net.Conn), done: make(chan struct{})},
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	l.refusal = &http.Server{
		Handler:           http.HandlerFunc(refuse),
		Protocols:         &p,
		ReadHeaderTimeout: HandshakeTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			r := refusal{grpcCode: "16", httpCode: http.StatusBadRequest, msg: PlaintextRefusal}
			if tc, ok := c.(*tls.Conn); ok {
				r = refusal{grpcCode: "7", httpCode: http.StatusForbidden, msg: cnRefusal(peerCN(tc.ConnectionState()))}
			}
			return context.WithValue(ctx, refusalKey{}, r)
		},
	}
	l.wg.Add(2)
	go func() { defer l.wg.Done(); _ = l.refusal.Serve(l.plain) }()
	go func() { defer l.wg.Done(); l.acceptLoop() }()
	return l
}

// refusal is how the requests of one refused connection are answered.
type refusal struct {
	grpcCode string // 16 Unauthenticated, 7 PermissionDenied
	httpCode int
	msg      string
}

type refusalKey struct{}

// refuse answers every request of a refused connection.
func refuse(w http.ResponseWriter, r *http.Request) {
	rf, _ := r.Context().Value(refusalKey{}).(refusal)
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		// A trailers-only gRPC answer.
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", rf.grpcCode)
		w.Header().Set("Grpc-Message", rf.msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Connection", "close")
	http.Error(w, rf.msg, rf.httpCode)
}

func peerCN(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

type acceptResult struct {
	conn net.Conn
	err  error
}

type listener struct {
	net.Listener
	tls      *TLS
	cfg      *tls.Config
	logger   *zap.Logger
	accepted chan acceptResult
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	mu         sync.Mutex
	handshakes map[net.Conn]struct{} // connections still handshaking

	plain   *chanListener // refused connections, for refusal
	refusal *http.Server
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case r := <-l.accepted:
		return r.conn, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.mu.Lock()
		for c := range l.handshakes {
			_ = c.Close()
		}
		l.mu.Unlock()
		close(l.plain.done)
		_ = l.refusal.Close()
		l.wg.Wait()
	})
	return err
}

func (l *listener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Hand the error to the server, which decides whether to
			// retry (EMFILE, say) or stop.
			select {
			case l.accepted <- acceptResult{err: err}:
				continue
			case <-l.done:
				return
			}
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		l.handshakes[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() { defer l.wg.Done(); l.handshake(c) }()
	}
}

// handshake runs the TLS handshake of c and passes it on, or logs why it
// was refused.
func (l *listener) handshake(c net.Conn) {
	defer func() {
		l.mu.Lock()
		delete(l.handshakes, c)
		l.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(HandshakeTimeout))
	// Every TLS connection starts with a handshake record (type 22); a
	// plaintext client's first byte is a letter of "PRI *" (HTTP/2) or of
	// an HTTP/1 method.
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		_ = c.Close()
		return
	}
	rc := &replayConn{Conn: c, head: first}
	if first[0] != recordTypeHandshake {
		l.logger.Warn("refused a plaintext connection on a TLS port", zap.String("addr", l.Addr().String()),
			zap.String("remote-addr", c.RemoteAddr().String()))
		// The deadline set above still bounds the refusal.
		l.plain.push(rc)
		return
	}
	tc := tls.Server(rc, l.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.logger.Warn("refused a TLS handshake", zap.String("addr", l.Addr().String()),
			zap.String("remote-addr", c.RemoteAddr().String()), zap.Error(err))
		lingerClose(c)
		return
	}
	if err := l.tls.checkCN(tc.ConnectionState()); err != nil {
		l.logger.Warn("refused a certificate whose CN is not allowed", zap.String("addr", l.Addr().String()),
			zap.String("remote-addr", c.RemoteAddr().String()), zap.Error(err))
		l.plain.push(tc)
		return
	}
	_ = c.SetDeadline(time.Time{})
	select {
	case l.accepted <- acceptResult{conn: tc}:
	case <-l.done:
		_ = tc.Close()
	}
}

// lingerClose closes c after the alert just written has reached the peer:
// closing a socket with unread data in it resets the connection, and a
// client that has sent its first request by then (a TLS 1.3 client does,
// before the server has checked its certificate) would see the reset
// instead of the alert that says why it was refused. So: send FIN, read
// until the peer closes or a second passes, then close.
func lingerClose(c net.Conn) {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	_ = c.Close()
}

// recordTypeHandshake is the first byte of a TLS ClientHello.
const recordTypeHandshake = 22

// replayConn reads head before the rest of its connection.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a listener fed by push, for the refusal server.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { return nil } // closed through done by its owner
func (l *chanListener) Addr() net.Addr { return l.addr }
