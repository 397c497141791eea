package server

import (
	"errors"
	"io"

	rspb "github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

// ErrNoRaft: a raft stream reached a standalone server.
var ErrNoRaft = errors.New("server: this store does not run raft")

// RaftHandler takes the raft messages and snapshots other stores send this
// one (the store's raftstore).
type RaftHandler interface {
	// HandleRaftMessage delivers a message to its region.
	HandleRaftMessage(msg *rspb.RaftMessage) error
	// HandleSnapshot stores a snapshot's data read from r, then delivers
	// its message.
	HandleSnapshot(msg *rspb.RaftMessage, r io.Reader) error
}

// SetRaftHandler makes the server accept raft messages and snapshots from
// other stores.
func (s *Server) SetRaftHandler(h RaftHandler) { s.raft = h }

// Raft receives a stream of raft messages.
func (s *Server) Raft(stream tikvpb.Tikv_RaftServer) error {
	if s.raft == nil {
		return ErrNoRaft
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&rspb.Done{})
		}
		if err != nil {
			return err
		}
		_ = s.raft.HandleRaftMessage(m)
	}
}

// BatchRaft receives a stream of batches of raft messages.
func (s *Server) BatchRaft(stream tikvpb.Tikv_BatchRaftServer) error {
	if s.raft == nil {
		return ErrNoRaft
	}
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&rspb.Done{})
		}
		if err != nil {
			return err
		}
		for _, m := range b.Msgs {
			_ = s.raft.HandleRaftMessage(m)
		}
	}
}

// Snapshot receives a snapshot: its raft message, then data chunks.
func (s *Server) Snapshot(stream tikvpb.Tikv_SnapshotServer) error {
	if s.raft == nil {
		return ErrNoRaft
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.Message == nil {
		return errors.New("server: snapshot stream must start with its message")
	}
	pr, pw := io.Pipe()
	go func() {
		for {
			c, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(c.Data); err != nil {
				return
			}
		}
	}()
	err = s.raft.HandleSnapshot(first.Message, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&rspb.Done{})
}
