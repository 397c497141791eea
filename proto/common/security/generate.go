package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made on the spot (ECDSA P-256): the
// playground's throwaway one, and the tests'.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA makes a self-signed CA named cn, valid from notBefore to notAfter.
func NewCA(cn string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"regionkv"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM is the CA's certificate, PEM-encoded.
func (ca *CA) CertPEM() []byte { return ca.pem }

// Issue makes a certificate named cn for hosts (IP addresses or DNS
// names, its subject alternative names), good for both sides of a
// connection, valid from notBefore to notAfter, and returns it and its
// key, PEM-encoded.
func (ca *CA) Issue(cn string, hosts []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"regionkv"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("security: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return n
}

// Names of the files GenerateDir writes, and the CNs of its certificates.
const (
	CAFile        = "ca.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
	ClientFile    = "client.pem"
	ClientKeyFile = "client-key.pem"
	ServerCN      = "regionkv-server"
	ClientCN      = "regionkv-client"
)

// Generated is what GenerateDir made: the servers' configuration
// (allowing the server and client CNs) and the tools'.
type Generated struct {
	Server, Client Config
}

// GenerateDir makes a throwaway CA in dir and two certificates it signs,
// valid for a year: one for the servers (CN regionkv-server, for hosts),
// one for the tools (CN regionkv-client). When dir already holds a set
// that is still valid for hosts, it is kept, so that the flags printed
// the first time keep working.
func GenerateDir(dir string, hosts []string) (Generated, error) {
	path := func(f string) string { return filepath.Join(dir, f) }
	g := Generated{
		Server: Config{CAPath: path(CAFile), CertPath: path(ServerFile), KeyPath: path(ServerKeyFile),
			CertAllowedCN: []string{ServerCN, ClientCN}},
		Client: Config{CAPath: path(CAFile), CertPath: path(ClientFile), KeyPath: path(ClientKeyFile)},
	}
	if reusable(g, hosts) {
		return g, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return g, fmt.Errorf("security: %w", err)
	}
	now := time.Now()
	from, until := now.Add(-time.Hour), now.Add(365*24*time.Hour)
	ca, err := NewCA("regionkv playground CA", from, until)
	if err != nil {
		return g, fmt.Errorf("security: make CA: %w", err)
	}
	files := map[string][]byte{CAFile: ca.CertPEM()}
	for _, c := range []struct {
		cn, cert, key string
		hosts         []string
	}{{ServerCN, ServerFile, ServerKeyFile, hosts}, {ClientCN, ClientFile, ClientKeyFile, nil}} {
		cp, kp, err := ca.Issue(c.cn, c.hosts, from, until)
		if err != nil {
			return g, fmt.Errorf("security: issue %s: %w", c.cn, err)
		}
		files[c.cert], files[c.key] = cp, kp
	}
	for name, b := range files {
		if err := os.WriteFile(path(name), b, 0o600); err != nil {
			return g, fmt.Errorf("security: %w", err)
		}
	}
	return g, nil
}

// reusable reports whether g's files exist, load, and the server
// certificate is valid for another day for every host.
func reusable(g Generated, hosts []string) bool {
	for _, c := range []Config{g.Server, g.Client} {
		if _, err := Load(c, nil); err != nil {
			return false
		}
	}
	b, err := os.ReadFile(g.Server.CertPath)
	if err != nil {
		return false
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return false
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || time.Until(cert.NotAfter) < 24*time.Hour {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}
