package ctl

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

// ErrUnreachable: no scheduler answered at the given addresses.
var ErrUnreachable = errors.New("ctl: cannot reach the scheduler")

// ErrNotLeader: the scheduler members reached are not the leader.
var ErrNotLeader = errors.New("ctl: no scheduler leader among the addresses given")

const apiPrefix = "/api/v1"

// client calls the scheduler's HTTP JSON API, trying each address until
// one answers as the leader (followers answer 503 "not leader").
type client struct {
	urls   []string
	http   *http.Client
	scheme string // of the scheduler's and the stores' status addresses
}

// newClient speaks HTTPS with sec's certificate, or plain HTTP with a nil
// sec. A scheme given in addrs is replaced by the one sec implies: the
// certificate flags decide, so that http:// in an address copied from a
// plaintext setup does not silently skip TLS.
func newClient(addrs string, timeout time.Duration, sec *security.TLS) (*client, error) {
	c := &client{http: sec.HTTPClient(timeout), scheme: sec.Scheme()}
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
		return nil, errors.New("ctl: --scheduler is empty")
	}
	return c, nil
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Message string
	Leader  *struct {
		Name string `json:"name"`
	}
}

func (e *apiError) Error() string {
	return fmt.Sprintf("scheduler answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// do sends method path with body (JSON-encoded unless nil) and returns
// the answer's body.
func (c *client) do(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var errs []error
	var notLeader *apiError
	for _, base := range c.urls {
		req, err := http.NewRequestWithContext(ctx, method, base+apiPrefix+path, bytes.NewReader(payload))
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
		ae := &apiError{Status: resp.StatusCode}
		var eb struct {
			Error  string `json:"error"`
			Leader *struct {
				Name string `json:"name"`
			} `json:"leader"`
		}
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			ae.Message, ae.Leader = eb.Error, eb.Leader
		} else {
			ae.Message = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusServiceUnavailable && ae.Message == "not leader" {
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
	return nil, fmt.Errorf("%w at %s (is it running? --scheduler takes the address it serves on, e.g. 127.0.0.1:2379): %w",
		ErrUnreachable, strings.Join(c.urls, ","), errors.Join(errs...))
}

func (c *client) get(ctx context.Context, path string, out any) (json.RawMessage, error) {
	b, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("ctl: undecodable answer to %s: %w", path, err)
		}
	}
	return b, nil
}
