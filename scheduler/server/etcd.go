package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/regionkv/regionkv/scheduler/config"
)

// etcdStartTimeout bounds how long an embedded etcd may take to join its
// cluster (members of a new cluster wait for each other).
const etcdStartTimeout = 60 * time.Second

// ErrEtcdStart wraps failures to start or reach etcd.
var ErrEtcdStart = errors.New("server: etcd")

// etcdBackend is the etcd this member uses: embedded or external.
type etcdBackend struct {
	cli      *clientv3.Client
	embedded *embed.Etcd // nil with external etcd
	memberID uint64
	peerURL  string
}

func (b *etcdBackend) close() {
	if b.cli != nil {
		_ = b.cli.Close()
	}
	if b.embedded != nil {
		b.embedded.Close()
	}
}

// derivedAddr returns explicit if set, else addr's host with port+delta,
// or port 0 when addr's port is 0.
func derivedAddr(explicit, addr string, delta int) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	if p != 0 {
		p += delta
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

func warnLogger(l *zap.Logger, name string) *zap.Logger {
	return l.Named(name).WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
}

// startEtcd starts the embedded etcd (or connects to the external one) and
// returns a connected client.
func startEtcd(cfg *config.Config, logger *zap.Logger) (*etcdBackend, error) {
	b := &etcdBackend{}
	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		clientAddr, err := derivedAddr(cfg.EtcdClientAddr, cfg.Addr, 2)
		if err != nil {
			return nil, fmt.Errorf("%w: client address: %v", ErrEtcdStart, err)
		}
		peerAddr, err := derivedAddr(cfg.PeerAddr, cfg.Addr, 1)
		if err != nil {
			return nil, fmt.Errorf("%w: peer address: %v", ErrEtcdStart, err)
		}
		ec := embed.NewConfig()
		ec.Name = cfg.Name
		ec.Dir = filepath.Join(cfg.DataDir, "etcd")
		curl := url.URL{Scheme: "http", Host: clientAddr}
		purl := url.URL{Scheme: "http", Host: peerAddr}
		ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{curl}, []url.URL{curl}
		ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{purl}, []url.URL{purl}
		ec.InitialCluster = cfg.InitialCluster
		if ec.InitialCluster == "" {
			ec.InitialCluster = cfg.Name + "=" + purl.String()
		}
		ec.InitialClusterToken = "regionkv-scheduler"
		ec.AutoCompactionMode = embed.CompactorModePeriodic
		ec.AutoCompactionRetention = "1h"
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(warnLogger(logger, "etcd"))
		e, err := embed.StartEtcd(ec)
		if err != nil {
			return nil, fmt.Errorf("%w: start embedded: %v", ErrEtcdStart, err)
		}
		b.embedded = e
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			b.close()
			return nil, fmt.Errorf("%w: embedded: %v", ErrEtcdStart, err)
		case <-time.After(etcdStartTimeout):
			b.close()
			return nil, fmt.Errorf("%w: embedded etcd not ready after %s", ErrEtcdStart, etcdStartTimeout)
		}
		b.memberID = uint64(e.Server.MemberID())
		b.peerURL = purl.String()
		endpoints = []string{"http://" + e.Clients[0].Addr().String()}
	} else {
		h := fnv.New64a()
		h.Write([]byte(cfg.Name))
		b.memberID = h.Sum64()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      warnLogger(logger, "etcd-client"),
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("%w: client: %v", ErrEtcdStart, err)
	}
	b.cli = cli
	return b, nil
}
