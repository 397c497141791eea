package server

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// One port serves both the pdpb.PD gRPC service and the HTTP API, so that
// every tool takes the same scheduler address.
//
// The port is one net/http server speaking HTTP/1.1 and HTTP/2; a request
// whose content-type is application/grpc goes to the gRPC server's
// ServeHTTP, every other request to the HTTP mux. gRPC clients speak
// cleartext HTTP/2 with prior knowledge, which net/http serves natively
// (http.Protocols' unencrypted HTTP/2); browsers, curl and ctl speak
// HTTP/1.1 or HTTP/2 on the same connection type.
//
// Why not sniff connections (cmux): routing by connection needs its own
// reader in front of every connection and, with TLS, would hand the HTTP
// side connections whose TLS state net/http cannot see. Here TLS sits
// under the routing: a TLS listener (ALPN h2 and http/1.1) in place of the
// plain one gives the same handler the same requests, with the peer's
// certificates in r.TLS and in gRPC's peer.AuthInfo. The price is gRPC
// served by net/http's HTTP/2 implementation instead of gRPC's own:
// BenchmarkRegionHeartbeat took about 76,000 heartbeats/s this way against
// about 120,000 with gRPC on a port of its own (or behind cmux), on the
// shared 2-core development machine; a scheduler of a million regions at
// one heartbeat a minute needs under 17,000.

// isGRPC reports whether r is a gRPC call.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// routeByProtocol sends gRPC calls to g and the rest to h.
func routeByProtocol(g *grpc.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isGRPC(r) {
			g.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// newHTTPServer returns the server for one port: HTTP/1.1 and HTTP/2, in
// cleartext or over the TLS listener (security.TLS.Listen), into handler.
func newHTTPServer(handler http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           handler,
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{
			// Every store holds heartbeat and TSO streams, every client
			// TSO streams and unary calls in flight.
			MaxConcurrentStreams: 10000,
			// Heartbeat streams carry many small messages: a wide window
			// keeps a busy stream from waiting on window updates.
			MaxReceiveBufferPerStream:     4 << 20,
			MaxReceiveBufferPerConnection: 64 << 20,
		},
	}
}

// serveHTTP runs srv on lis until srv is closed.
func (s *Server) serveHTTP(srv *http.Server, lis net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http serve", zap.String("addr", lis.Addr().String()), zap.Error(err))
		}
	}()
}
