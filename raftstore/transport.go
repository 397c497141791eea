package raftstore

import (
	"io"

	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
)

// Transport carries raft messages and snapshots to other stores.
// Implementations: grpctransport (production) and the tests' in-process
// network.
type Transport interface {
	// Send queues a message for its target store. It never blocks the raft
	// loop: when the message cannot be queued (unknown address, full queue)
	// it returns an error wrapping ErrUnreachable and the caller reports
	// the peer unreachable.
	Send(msg *rspb.RaftMessage) error
	// SendSnapshot streams msg (a MsgSnapshot) and then the snapshot's data,
	// read from open(), in the background; done reports the outcome.
	SendSnapshot(msg *rspb.RaftMessage, open func() (io.ReadCloser, error), done func(error))
}

// MessageHandler is the receiving side, implemented by Store.
type MessageHandler interface {
	// HandleRaftMessage delivers a message to its region.
	HandleRaftMessage(msg *rspb.RaftMessage) error
	// HandleSnapshot stores a snapshot's data read from r, then delivers
	// its message.
	HandleSnapshot(msg *rspb.RaftMessage, r io.Reader) error
}
