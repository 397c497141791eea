package client

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/scheduler/pderr"
)

// Sentinel errors; a *ResponseError matches the one of its category with
// errors.Is.
var (
	ErrClosed              = errors.New("client: closed")
	ErrNoLeader            = errors.New("client: no scheduler leader reachable")
	ErrNotLeader           = errors.New("client: member is not the leader")
	ErrClusterIDMismatch   = errors.New("client: cluster id mismatch")
	ErrNotBootstrapped     = errors.New("client: cluster not bootstrapped")
	ErrAlreadyBootstrapped = errors.New("client: cluster already bootstrapped")
	ErrStoreTombstone      = errors.New("client: store is tombstone")
	ErrRegionNotFound      = errors.New("client: region not found")
	ErrStoreNotFound       = errors.New("client: store not found")
)

// ResponseError is an error the scheduler returned in a response header.
type ResponseError struct {
	Type    pdpb.ErrorType
	Message string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("client: scheduler error %s: %s", e.Type, e.Message)
}

// Is maps the error to its sentinel.
func (e *ResponseError) Is(target error) bool {
	pe := &pdpb.Error{Type: e.Type, Message: e.Message}
	switch target {
	case ErrNotLeader:
		return pderr.IsNotLeader(pe)
	case ErrClusterIDMismatch:
		return pderr.IsClusterIDMismatch(pe)
	case ErrNotBootstrapped:
		return e.Type == pdpb.ErrorType_NOT_BOOTSTRAPPED
	case ErrAlreadyBootstrapped:
		return e.Type == pdpb.ErrorType_ALREADY_BOOTSTRAPPED
	case ErrStoreTombstone:
		return e.Type == pdpb.ErrorType_STORE_TOMBSTONE
	case ErrRegionNotFound:
		return e.Type == pdpb.ErrorType_REGION_NOT_FOUND
	case ErrStoreNotFound:
		return e.Type == pdpb.ErrorType_ENTRY_NOT_FOUND
	}
	return false
}

func headerErr(h *pdpb.ResponseHeader) error {
	if e := h.GetError(); e != nil && e.Type != pdpb.ErrorType_OK {
		return &ResponseError{Type: e.Type, Message: e.Message}
	}
	return nil
}

// retryable reports whether err may go away by finding the leader again:
// a not-leader answer, or a transport failure.
func retryable(err error) bool {
	if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) {
		return true
	}
	var re *ResponseError
	if errors.As(err, &re) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
