package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func member(status int, body any) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, Prefix+"/") {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
}

func host(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// TestClientFollowsTheLeader: followers' "not leader" answers (told by
// their code, not their words) are skipped until the leader answers; with
// no leader among the addresses the error names the leader a follower
// knows; an unreachable address is skipped, all of them unreachable is
// ErrUnreachable; any other error answer is an *APIError with its status.
func TestClientFollowsTheLeader(t *testing.T) {
	follower := member(http.StatusServiceUnavailable, ErrorBody{Error: "some words", Code: CodeNotLeader, Leader: &Member{Name: "s2"}})
	defer follower.Close()
	leader := member(http.StatusOK, map[string]int{"count": 3})
	defer leader.Close()
	bad := member(http.StatusBadRequest, ErrorBody{Error: "max-replicas must be at least 1"})
	defer bad.Close()
	dead := deadAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := New(strings.Join([]string{dead, host(follower), host(leader)}, ","), 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Count int }
	if _, err := c.Get(ctx, "/regions", &out); err != nil || out.Count != 3 {
		t.Fatalf("through a dead address and a follower: %+v, %v; want the leader's answer", out, err)
	}

	c, _ = New(host(follower), 5*time.Second, nil)
	if _, err := c.Get(ctx, "/regions", nil); !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), `"s2"`) {
		t.Fatalf("only a follower: %v; want ErrNotLeader naming s2", err)
	}

	c, _ = New(dead, 5*time.Second, nil)
	if _, err := c.Get(ctx, "/regions", nil); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("nothing listening: %v; want ErrUnreachable", err)
	}

	c, _ = New("http://"+host(bad), 5*time.Second, nil)
	_, err = c.Do(ctx, http.MethodPost, "/config", map[string]int{"max-replicas": 0})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Message != "max-replicas must be at least 1" {
		t.Fatalf("a refused change: %v; want an *APIError 400 with the scheduler's words", err)
	}

	if _, err := New(" , ", time.Second, nil); err == nil {
		t.Fatal("no address: want an error")
	}
}
