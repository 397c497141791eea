package raft

import "errors"

// Sentinel errors returned by the raft package. Check with errors.Is.
var (
	// ErrProposalDropped is returned when a proposal cannot be accepted:
	// there is no known leader, a leadership transfer is in progress, this
	// node was removed from the configuration, forwarding is disabled, or a
	// conf change is proposed while another is pending. The caller may retry.
	ErrProposalDropped = errors.New("raft: proposal dropped")

	// ErrStepLocalMsg is returned by RawNode.Step for message types that
	// only the node itself may generate (MsgHup, MsgBeat, ...).
	ErrStepLocalMsg = errors.New("raft: cannot step raft local message")

	// ErrStepPeerNotFound is returned by RawNode.Step for a response from a
	// peer that is not in the configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")

	// ErrStepMalformedMsg is returned by RawNode.Step for a message that no
	// honest peer sends (see checkPeerMsg); it is dropped.
	ErrStepMalformedMsg = errors.New("raft: cannot step malformed message")

	// ErrInvalidConfChange is returned by ProposeConfChange for a change
	// that can never be applied (unsupported type, removing the last voter).
	ErrInvalidConfChange = errors.New("raft: invalid conf change")
)

// Storage errors. A Storage implementation returns them; raft handles them.
var (
	// ErrCompacted: the requested index precedes the first index of the log.
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")

	// ErrSnapOutOfDate: the snapshot is older than the one already held.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")

	// ErrUnavailable: the requested index is beyond the last index.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")

	// ErrSnapshotTemporarilyUnavailable: the snapshot is being generated;
	// raft retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)
