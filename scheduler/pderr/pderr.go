// Package pderr is the wire convention for scheduler errors carried in
// pdpb.ResponseHeader, shared by the server and scheduler/client so that
// neither matches free-form strings. kvproto's ErrorType has no NOT_LEADER,
// so, like PD, "not leader" travels as UNKNOWN with a fixed message prefix
// that names the leader.
package pderr

import (
	"fmt"
	"strings"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
)

// NotLeaderPrefix starts the message of every not-leader error.
const NotLeaderPrefix = "not leader"

// ClusterIDMismatchPrefix starts the message of a cluster ID mismatch.
const ClusterIDMismatchPrefix = "cluster id mismatch"

// NotLeader builds the error a non-leader member answers with.
func NotLeader(leader *pdpb.Member) *pdpb.Error {
	msg := NotLeaderPrefix + ": no leader elected yet"
	if leader != nil {
		msg = fmt.Sprintf("%s: leader is %s at %s", NotLeaderPrefix, leader.Name, strings.Join(leader.ClientUrls, ","))
	}
	return &pdpb.Error{Type: pdpb.ErrorType_UNKNOWN, Message: msg}
}

// IsNotLeader reports whether e is a not-leader error.
func IsNotLeader(e *pdpb.Error) bool {
	return e != nil && e.Type == pdpb.ErrorType_UNKNOWN && strings.HasPrefix(e.Message, NotLeaderPrefix)
}

// ClusterIDMismatch builds the error for a request meant for another cluster.
func ClusterIDMismatch(want, got uint64) *pdpb.Error {
	return &pdpb.Error{Type: pdpb.ErrorType_INVALID_VALUE,
		Message: fmt.Sprintf("%s: this cluster is %d, request is for %d", ClusterIDMismatchPrefix, want, got)}
}

// IsClusterIDMismatch reports whether e is a cluster ID mismatch.
func IsClusterIDMismatch(e *pdpb.Error) bool {
	return e != nil && e.Type == pdpb.ErrorType_INVALID_VALUE && strings.HasPrefix(e.Message, ClusterIDMismatchPrefix)
}

// New builds an error of type t.
func New(t pdpb.ErrorType, format string, args ...any) *pdpb.Error {
	return &pdpb.Error{Type: t, Message: fmt.Sprintf(format, args...)}
}
