// Package httpapi is the Go client of the scheduler's HTTP JSON API
// (/api/v1), shared by `regionkv ctl` and `regionkv bench`: it tries each
// scheduler address until the leader answers, speaks HTTPS when given
// certificates, and turns error answers into *APIError values with a
// machine-readable code. It imports nothing of the scheduler's server.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/regionkv/regionkv/proto/common/security"
)

// Prefix is the API's path prefix.
const Prefix = "/api/v1"

// Error codes of the API's error answers ({"error": ..., "code": ...}).
const (
	// CodeNotLeader: the member answering is not the scheduler leader
	// (503); the answer names the leader when it knows it.
	CodeNotLeader = "not-leader"
)

var (
	// ErrUnreachable: no scheduler answered at the given addresses.
	ErrUnreachable = errors.New("cannot reach the scheduler")
	// ErrNotLeader: the scheduler members reached are not the leader.
	ErrNotLeader = errors.New("no scheduler leader among the addresses given")
)

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	Error  string  `json:"error"`
	Code   string  `json:"code,omitempty"`
	Leader *Member `json:"leader,omitempty"`
}

// Member names a scheduler member in an error answer.
type Member struct {
	Name string `json:"name"`
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Code    string
	Message string
	Leader  *Member
}

func (e *APIError) Error() string {
	return fmt.Sprintf("scheduler answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Client calls the API at one or more scheduler addresses.
type Client struct {
	urls   []string
	http   *http.Client
	scheme string
}

// New returns a client of the comma-separated addrs. It speaks HTTPS with
// sec's certificate, or plain HTTP with a nil sec; a scheme given in an
// address is replaced by the one sec implies, so that http:// copied from
// a plaintext setup does not silently skip TLS.
func New(addrs string, timeout time.Duration, sec *security.TLS) (*Client, error) {
	c := &Client{http: sec.HTTPClient(timeout), scheme: sec.Scheme()}
	for _, a := range strings.Split(addrs, ",") {
		a = strings.TrimRight(strings.TrimSpace(a), "/")
		if _, rest, ok := strings.Cut(a, "://"); ok {
			a = rest
		}
		if a == "" {
			continue
		}
		c.urls = append(c.urls, c.scheme+"://"+a)
	}
	if len(c.urls) == 0 {
		return nil, errors.New("httpapi: no scheduler address given")
	}
	return c, nil
}

// Scheme is "https" with certificates, else "http" (also the scheme of
// the stores' status addresses).
func (c *Client) Scheme() string { return c.scheme }

// HTTP is the underlying client (for the stores' status addresses).
func (c *Client) HTTP() *http.Client { return c.http }

// URLs are the scheduler base URLs, in the order tried.
func (c *Client) URLs() []string { return append([]string(nil), c.urls...) }

// One returns a client of only the i-th address, sharing the connection
// pool.
func (c *Client) One(i int) *Client {
	return &Client{urls: []string{c.urls[i]}, http: c.http, scheme: c.scheme}
}

// Do sends method path (under Prefix) with body (JSON-encoded unless nil)
// and returns the body of the 200 answer. Members that answer "not leader"
// are skipped; another error answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var errs []error
	var notLeader *APIError
	for _, base := range c.urls {
		req, err := http.NewRequestWithContext(ctx, method, base+Prefix+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return b, nil
		}
		ae := &APIError{Status: resp.StatusCode}
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			ae.Message, ae.Code, ae.Leader = eb.Error, eb.Code, eb.Leader
		} else {
			ae.Message = strings.TrimSpace(string(b))
		}
		if ae.Code == CodeNotLeader {
			notLeader = ae
			continue
		}
		return nil, ae
	}
	if notLeader != nil {
		if notLeader.Leader != nil {
			return nil, fmt.Errorf("%w: the leader is member %q; give its address too", ErrNotLeader, notLeader.Leader.Name)
		}
		return nil, fmt.Errorf("%w (an election may be in progress)", ErrNotLeader)
	}
	return nil, fmt.Errorf("%w at %s (is it running? give the address it serves on, e.g. 127.0.0.1:2379): %w",
		ErrUnreachable, strings.Join(c.urls, ","), errors.Join(errs...))
}

// Get is Do of a GET, decoding the answer into out (unless nil).
func (c *Client) Get(ctx context.Context, path string, out any) (json.RawMessage, error) {
	b, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("httpapi: undecodable answer to %s: %w", path, err)
		}
	}
	return b, nil
}
