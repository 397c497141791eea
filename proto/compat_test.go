package proto_test

// These tests pin the wire facts regionkv shares with TiKV's kvproto: field
// numbers, wire types, oneof numbers and gRPC method names. A change here is a
// compatibility break with TiKV clients and with data already on disk, so a
// failing test means the .proto file is wrong, not the test.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/regionkv/regionkv/proto/pkg/disk_usage"
	"github.com/regionkv/regionkv/proto/pkg/eraftpb"
	"github.com/regionkv/regionkv/proto/pkg/errorpb"
	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
	"github.com/regionkv/regionkv/proto/pkg/metapb"
	"github.com/regionkv/regionkv/proto/pkg/pdpb"
	"github.com/regionkv/regionkv/proto/pkg/pdpbgrpc"
	"github.com/regionkv/regionkv/proto/pkg/raft_cmdpb"
	"github.com/regionkv/regionkv/proto/pkg/raft_serverpb"
	"github.com/regionkv/regionkv/proto/pkg/tikvpb"
)

const (
	varint = 0 // wire type of integers, bools and enums
	bytes  = 2 // wire type of strings, bytes, messages and packed repeated
)

type marshaler interface{ Marshal() ([]byte, error) }

// field is one top-level field found on the wire.
type field struct {
	num      uint64
	wireType uint64
}

func readVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad varint")
}

// topLevelFields decodes the tags of an encoded message, skipping values.
func topLevelFields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		tag, n, err := readVarint(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		f := field{num: tag >> 3, wireType: tag & 7}
		switch f.wireType {
		case varint:
			_, n, err = readVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
		case bytes:
			l, n, err := readVarint(b)
			if err != nil || uint64(len(b)-n) < l {
				return nil, fmt.Errorf("bad length-delimited field %d", f.num)
			}
			b = b[n+int(l):]
		default:
			return nil, fmt.Errorf("unexpected wire type %d", f.wireType)
		}
		out = append(out, f)
	}
	return out, nil
}

// wireCase is a message with exactly one field set, and the field number and
// wire type that field must have on the wire.
type wireCase struct {
	name     string
	msg      marshaler
	num      uint64
	wireType uint64
}

func checkWire(t *testing.T, cases []wireCase) {
	t.Helper()
	for _, c := range cases {
		b, err := c.msg.Marshal()
		if err != nil {
			t.Errorf("%s: marshal: %v", c.name, err)
			continue
		}
		got, err := topLevelFields(b)
		if err != nil {
			t.Errorf("%s: decode %x: %v", c.name, b, err)
			continue
		}
		want := []field{{c.num, c.wireType}}
		if !slices.Equal(got, want) {
			t.Errorf("%s: encodes as fields %v, want %v (bytes %x)", c.name, got, want, b)
		}
	}
}

// Non-empty values for message-typed fields, so that they are encoded.
var (
	epoch  = &metapb.RegionEpoch{Version: 1}
	peer   = &metapb.Peer{Id: 1}
	region = &metapb.Region{Id: 1}
)

func TestMetapbWire(t *testing.T) {
	checkWire(t, []wireCase{
		{"Cluster.max_peer_count", &metapb.Cluster{MaxPeerCount: 3}, 2, varint},
		{"Store.address", &metapb.Store{Address: "a"}, 2, bytes},
		{"Store.state", &metapb.Store{State: metapb.StoreState_Tombstone}, 3, varint},
		{"Store.labels", &metapb.Store{Labels: []*metapb.StoreLabel{{Key: "k"}}}, 4, bytes},
		{"Store.peer_address", &metapb.Store{PeerAddress: "a"}, 6, bytes},
		{"Store.status_address", &metapb.Store{StatusAddress: "a"}, 7, bytes},
		{"Store.last_heartbeat", &metapb.Store{LastHeartbeat: 1}, 11, varint},
		{"Store.node_state", &metapb.Store{NodeState: metapb.NodeState_Serving}, 13, varint},
		{"RegionEpoch.conf_ver", &metapb.RegionEpoch{ConfVer: 1}, 1, varint},
		{"RegionEpoch.version", &metapb.RegionEpoch{Version: 1}, 2, varint},
		{"Region.id", &metapb.Region{Id: 1}, 1, varint},
		{"Region.start_key", &metapb.Region{StartKey: []byte("a")}, 2, bytes},
		{"Region.end_key", &metapb.Region{EndKey: []byte("a")}, 3, bytes},
		{"Region.region_epoch", &metapb.Region{RegionEpoch: epoch}, 4, bytes},
		{"Region.peers", &metapb.Region{Peers: []*metapb.Peer{peer}}, 5, bytes},
		{"Peer.store_id", &metapb.Peer{StoreId: 1}, 2, varint},
		{"Peer.role", &metapb.Peer{Role: metapb.PeerRole_Learner}, 3, varint},
		{"Peer.is_witness", &metapb.Peer{IsWitness: true}, 4, varint},
	})
	// PeerRole.Learner = 1 keeps old `bool is_learner = 3` data readable.
	if metapb.PeerRole_Learner != 1 || metapb.PeerRole_DemotingVoter != 3 {
		t.Errorf("PeerRole values changed")
	}
}

func TestErrorpbWire(t *testing.T) {
	checkWire(t, []wireCase{
		{"message", &errorpb.Error{Message: "m"}, 1, bytes},
		{"not_leader", &errorpb.Error{NotLeader: &errorpb.NotLeader{}}, 2, bytes},
		{"region_not_found", &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}, 3, bytes},
		{"key_not_in_region", &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, 4, bytes},
		{"epoch_not_match", &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, 5, bytes},
		{"server_is_busy", &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, 6, bytes},
		{"stale_command", &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}, 7, bytes},
		{"store_not_match", &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, 8, bytes},
		{"raft_entry_too_large", &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, 9, bytes},
		{"max_timestamp_not_synced", &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, 10, bytes},
		{"read_index_not_ready", &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}}, 11, bytes},
		{"proposal_in_merging_mode", &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}, 12, bytes},
		{"data_is_not_ready", &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}, 13, bytes},
		{"region_not_initialized", &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}, 14, bytes},
		{"disk_full", &errorpb.Error{DiskFull: &errorpb.DiskFull{}}, 15, bytes},
		{"RecoveryInProgress", &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}, 16, bytes},
		{"FlashbackInProgress", &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}}, 17, bytes},
		{"FlashbackNotPrepared", &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}, 18, bytes},
		{"is_witness", &errorpb.Error{IsWitness: &errorpb.IsWitness{}}, 19, bytes},
		{"mismatch_peer_id", &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, 20, bytes},
		{"bucket_version_not_match", &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{}}, 21, bytes},
		{"undetermined_result", &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, 22, bytes},
		{"NotLeader.leader", &errorpb.NotLeader{Leader: peer}, 2, bytes},
		{"EpochNotMatch.current_regions", &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{region}}, 1, bytes},
		{"KeyNotInRegion.region_id", &errorpb.KeyNotInRegion{RegionId: 1}, 2, varint},
		{"ServerIsBusy.backoff_ms", &errorpb.ServerIsBusy{BackoffMs: 1}, 2, varint},
		{"StoreNotMatch.actual_store_id", &errorpb.StoreNotMatch{ActualStoreId: 1}, 2, varint},
	})
}

func TestKvrpcpbWire(t *testing.T) {
	ctx := &kvrpcpb.Context{RegionId: 1}
	checkWire(t, []wireCase{
		{"Context.region_id", &kvrpcpb.Context{RegionId: 1}, 1, varint},
		{"Context.region_epoch", &kvrpcpb.Context{RegionEpoch: epoch}, 2, bytes},
		{"Context.peer", &kvrpcpb.Context{Peer: peer}, 3, bytes},
		{"Context.term", &kvrpcpb.Context{Term: 1}, 5, varint},
		{"Context.priority", &kvrpcpb.Context{Priority: kvrpcpb.CommandPri_High}, 6, varint},
		{"Context.isolation_level", &kvrpcpb.Context{IsolationLevel: kvrpcpb.IsolationLevel_RC}, 7, varint},
		{"Context.not_fill_cache", &kvrpcpb.Context{NotFillCache: true}, 8, varint},
		{"Context.sync_log", &kvrpcpb.Context{SyncLog: true}, 9, varint},
		{"Context.replica_read", &kvrpcpb.Context{ReplicaRead: true}, 12, varint},
		{"Context.applied_index", &kvrpcpb.Context{AppliedIndex: 1}, 15, varint},
		{"Context.stale_read", &kvrpcpb.Context{StaleRead: true}, 17, varint},
		{"Context.disk_full_opt", &kvrpcpb.Context{DiskFullOpt: kvrpcpb.DiskFullOpt_AllowedOnAlmostFull}, 19, varint},
		{"Context.is_retry_request", &kvrpcpb.Context{IsRetryRequest: true}, 20, varint},
		{"Context.api_version", &kvrpcpb.Context{ApiVersion: kvrpcpb.APIVersion_V2}, 21, varint},
		{"Context.request_source", &kvrpcpb.Context{RequestSource: "s"}, 24, bytes},
		{"Context.busy_threshold_ms", &kvrpcpb.Context{BusyThresholdMs: 1}, 27, varint},
		{"Context.keyspace_id", &kvrpcpb.Context{KeyspaceId: 1}, 32, varint},
		{"Context.cluster_id", &kvrpcpb.Context{ClusterId: 1}, 35, varint},

		{"RawGetRequest.context", &kvrpcpb.RawGetRequest{Context: ctx}, 1, bytes},
		{"RawGetRequest.key", &kvrpcpb.RawGetRequest{Key: []byte("k")}, 2, bytes},
		{"RawGetRequest.cf", &kvrpcpb.RawGetRequest{Cf: "c"}, 3, bytes},
		{"RawGetResponse.region_error", &kvrpcpb.RawGetResponse{RegionError: &errorpb.Error{}}, 1, bytes},
		{"RawGetResponse.error", &kvrpcpb.RawGetResponse{Error: "e"}, 2, bytes},
		{"RawGetResponse.value", &kvrpcpb.RawGetResponse{Value: []byte("v")}, 3, bytes},
		{"RawGetResponse.not_found", &kvrpcpb.RawGetResponse{NotFound: true}, 4, varint},

		{"RawBatchGetRequest.keys", &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{{1}}}, 2, bytes},
		{"RawBatchGetRequest.cf", &kvrpcpb.RawBatchGetRequest{Cf: "c"}, 3, bytes},
		{"RawBatchGetResponse.pairs", &kvrpcpb.RawBatchGetResponse{Pairs: []*kvrpcpb.KvPair{{}}}, 2, bytes},

		{"RawPutRequest.key", &kvrpcpb.RawPutRequest{Key: []byte("k")}, 2, bytes},
		{"RawPutRequest.value", &kvrpcpb.RawPutRequest{Value: []byte("v")}, 3, bytes},
		{"RawPutRequest.cf", &kvrpcpb.RawPutRequest{Cf: "c"}, 4, bytes},
		{"RawPutRequest.ttl", &kvrpcpb.RawPutRequest{Ttl: 1}, 5, varint},
		{"RawPutRequest.for_cas", &kvrpcpb.RawPutRequest{ForCas: true}, 6, varint},
		{"RawPutResponse.error", &kvrpcpb.RawPutResponse{Error: "e"}, 2, bytes},

		{"RawBatchPutRequest.pairs", &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{}}}, 2, bytes},
		{"RawBatchPutRequest.cf", &kvrpcpb.RawBatchPutRequest{Cf: "c"}, 3, bytes},
		{"RawBatchPutRequest.for_cas", &kvrpcpb.RawBatchPutRequest{ForCas: true}, 5, varint},
		{"RawBatchPutRequest.ttls", &kvrpcpb.RawBatchPutRequest{Ttls: []uint64{1}}, 6, bytes},

		{"RawDeleteRequest.cf", &kvrpcpb.RawDeleteRequest{Cf: "c"}, 3, bytes},
		{"RawDeleteRequest.for_cas", &kvrpcpb.RawDeleteRequest{ForCas: true}, 4, varint},
		{"RawBatchDeleteRequest.keys", &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{{1}}}, 2, bytes},
		{"RawBatchDeleteRequest.for_cas", &kvrpcpb.RawBatchDeleteRequest{ForCas: true}, 4, varint},

		{"RawScanRequest.start_key", &kvrpcpb.RawScanRequest{StartKey: []byte("k")}, 2, bytes},
		{"RawScanRequest.limit", &kvrpcpb.RawScanRequest{Limit: 1}, 3, varint},
		{"RawScanRequest.key_only", &kvrpcpb.RawScanRequest{KeyOnly: true}, 4, varint},
		{"RawScanRequest.cf", &kvrpcpb.RawScanRequest{Cf: "c"}, 5, bytes},
		{"RawScanRequest.reverse", &kvrpcpb.RawScanRequest{Reverse: true}, 6, varint},
		{"RawScanRequest.end_key", &kvrpcpb.RawScanRequest{EndKey: []byte("k")}, 7, bytes},
		{"RawScanResponse.kvs", &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{}}}, 2, bytes},

		{"RawDeleteRangeRequest.start_key", &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("k")}, 2, bytes},
		{"RawDeleteRangeRequest.end_key", &kvrpcpb.RawDeleteRangeRequest{EndKey: []byte("k")}, 3, bytes},
		{"RawDeleteRangeRequest.cf", &kvrpcpb.RawDeleteRangeRequest{Cf: "c"}, 4, bytes},

		{"RawBatchScanRequest.ranges", &kvrpcpb.RawBatchScanRequest{Ranges: []*kvrpcpb.KeyRange{{}}}, 2, bytes},
		{"RawBatchScanRequest.each_limit", &kvrpcpb.RawBatchScanRequest{EachLimit: 1}, 3, varint},
		{"RawBatchScanRequest.cf", &kvrpcpb.RawBatchScanRequest{Cf: "c"}, 5, bytes},

		{"RawGetKeyTTLResponse.ttl", &kvrpcpb.RawGetKeyTTLResponse{Ttl: 1}, 3, varint},
		{"RawGetKeyTTLResponse.not_found", &kvrpcpb.RawGetKeyTTLResponse{NotFound: true}, 4, varint},

		{"RawCASRequest.key", &kvrpcpb.RawCASRequest{Key: []byte("k")}, 2, bytes},
		{"RawCASRequest.value", &kvrpcpb.RawCASRequest{Value: []byte("v")}, 3, bytes},
		{"RawCASRequest.previous_not_exist", &kvrpcpb.RawCASRequest{PreviousNotExist: true}, 4, varint},
		{"RawCASRequest.previous_value", &kvrpcpb.RawCASRequest{PreviousValue: []byte("v")}, 5, bytes},
		{"RawCASRequest.cf", &kvrpcpb.RawCASRequest{Cf: "c"}, 6, bytes},
		{"RawCASRequest.ttl", &kvrpcpb.RawCASRequest{Ttl: 1}, 7, varint},
		{"RawCASResponse.error", &kvrpcpb.RawCASResponse{Error: "e"}, 2, bytes},
		{"RawCASResponse.succeed", &kvrpcpb.RawCASResponse{Succeed: true}, 3, varint},
		{"RawCASResponse.previous_not_exist", &kvrpcpb.RawCASResponse{PreviousNotExist: true}, 4, varint},
		{"RawCASResponse.previous_value", &kvrpcpb.RawCASResponse{PreviousValue: []byte("v")}, 5, bytes},

		{"KvPair.error", &kvrpcpb.KvPair{Error: &kvrpcpb.KeyError{Abort: "a"}}, 1, bytes},
		{"KvPair.key", &kvrpcpb.KvPair{Key: []byte("k")}, 2, bytes},
		{"KvPair.value", &kvrpcpb.KvPair{Value: []byte("v")}, 3, bytes},
		{"KeyError.retryable", &kvrpcpb.KeyError{Retryable: "r"}, 2, bytes},
		{"KeyError.abort", &kvrpcpb.KeyError{Abort: "a"}, 3, bytes},
	})
}

func TestTikvpbWire(t *testing.T) {
	type req = tikvpb.BatchCommandsRequest_Request
	type resp = tikvpb.BatchCommandsResponse_Response
	checkWire(t, []wireCase{
		{"BatchCommandsRequest.requests", &tikvpb.BatchCommandsRequest{Requests: []*req{{}}}, 1, bytes},
		{"BatchCommandsRequest.request_ids", &tikvpb.BatchCommandsRequest{RequestIds: []uint64{1}}, 2, bytes},
		{"BatchCommandsResponse.responses", &tikvpb.BatchCommandsResponse{Responses: []*resp{{}}}, 1, bytes},
		{"BatchCommandsResponse.request_ids", &tikvpb.BatchCommandsResponse{RequestIds: []uint64{1}}, 2, bytes},
		{"BatchCommandsResponse.transport_layer_load", &tikvpb.BatchCommandsResponse{TransportLayerLoad: 1}, 3, varint},
		{"BatchCommandsResponse.health_feedback", &tikvpb.BatchCommandsResponse{HealthFeedback: &kvrpcpb.HealthFeedback{}}, 4, bytes},

		{"Request.RawGet", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawGet{RawGet: &kvrpcpb.RawGetRequest{}}}, 13, bytes},
		{"Request.RawBatchGet", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchGet{RawBatchGet: &kvrpcpb.RawBatchGetRequest{}}}, 14, bytes},
		{"Request.RawPut", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawPut{RawPut: &kvrpcpb.RawPutRequest{}}}, 15, bytes},
		{"Request.RawBatchPut", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchPut{RawBatchPut: &kvrpcpb.RawBatchPutRequest{}}}, 16, bytes},
		{"Request.RawDelete", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDelete{RawDelete: &kvrpcpb.RawDeleteRequest{}}}, 17, bytes},
		{"Request.RawBatchDelete", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchDelete{RawBatchDelete: &kvrpcpb.RawBatchDeleteRequest{}}}, 18, bytes},
		{"Request.RawScan", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawScan{RawScan: &kvrpcpb.RawScanRequest{}}}, 19, bytes},
		{"Request.RawDeleteRange", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawDeleteRange{RawDeleteRange: &kvrpcpb.RawDeleteRangeRequest{}}}, 20, bytes},
		{"Request.RawBatchScan", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_RawBatchScan{RawBatchScan: &kvrpcpb.RawBatchScanRequest{}}}, 21, bytes},
		{"Request.Empty", &req{Cmd: &tikvpb.BatchCommandsRequest_Request_Empty{Empty: &tikvpb.BatchCommandsEmptyRequest{}}}, 255, bytes},

		{"Response.RawGet", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawGet{RawGet: &kvrpcpb.RawGetResponse{}}}, 13, bytes},
		{"Response.RawBatchGet", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchGet{RawBatchGet: &kvrpcpb.RawBatchGetResponse{}}}, 14, bytes},
		{"Response.RawPut", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawPut{RawPut: &kvrpcpb.RawPutResponse{}}}, 15, bytes},
		{"Response.RawBatchPut", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchPut{RawBatchPut: &kvrpcpb.RawBatchPutResponse{}}}, 16, bytes},
		{"Response.RawDelete", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDelete{RawDelete: &kvrpcpb.RawDeleteResponse{}}}, 17, bytes},
		{"Response.RawBatchDelete", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchDelete{RawBatchDelete: &kvrpcpb.RawBatchDeleteResponse{}}}, 18, bytes},
		{"Response.RawScan", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawScan{RawScan: &kvrpcpb.RawScanResponse{}}}, 19, bytes},
		{"Response.RawDeleteRange", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawDeleteRange{RawDeleteRange: &kvrpcpb.RawDeleteRangeResponse{}}}, 20, bytes},
		{"Response.RawBatchScan", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_RawBatchScan{RawBatchScan: &kvrpcpb.RawBatchScanResponse{}}}, 21, bytes},
		{"Response.Empty", &resp{Cmd: &tikvpb.BatchCommandsResponse_Response_Empty{Empty: &tikvpb.BatchCommandsEmptyResponse{}}}, 255, bytes},

		{"BatchRaftMessage.msgs", &tikvpb.BatchRaftMessage{Msgs: []*raft_serverpb.RaftMessage{{}}}, 1, bytes},
		{"BatchCommandsEmptyRequest.delay_time", &tikvpb.BatchCommandsEmptyRequest{DelayTime: 1}, 2, varint},
	})
}

func TestRaftServerpbWire(t *testing.T) {
	checkWire(t, []wireCase{
		{"RaftMessage.region_id", &raft_serverpb.RaftMessage{RegionId: 1}, 1, varint},
		{"RaftMessage.from_peer", &raft_serverpb.RaftMessage{FromPeer: peer}, 2, bytes},
		{"RaftMessage.to_peer", &raft_serverpb.RaftMessage{ToPeer: peer}, 3, bytes},
		{"RaftMessage.message", &raft_serverpb.RaftMessage{Message: &eraftpb.Message{To: 1}}, 4, bytes},
		{"RaftMessage.region_epoch", &raft_serverpb.RaftMessage{RegionEpoch: epoch}, 5, bytes},
		{"RaftMessage.is_tombstone", &raft_serverpb.RaftMessage{IsTombstone: true}, 6, varint},
		{"RaftMessage.start_key", &raft_serverpb.RaftMessage{StartKey: []byte("k")}, 7, bytes},
		{"RaftMessage.end_key", &raft_serverpb.RaftMessage{EndKey: []byte("k")}, 8, bytes},
		{"RaftMessage.merge_target", &raft_serverpb.RaftMessage{MergeTarget: region}, 9, bytes},
		{"RaftMessage.extra_msg", &raft_serverpb.RaftMessage{ExtraMsg: &raft_serverpb.ExtraMessage{}}, 10, bytes},
		{"RaftMessage.extra_ctx", &raft_serverpb.RaftMessage{ExtraCtx: []byte("c")}, 11, bytes},
		{"RaftMessage.disk_usage", &raft_serverpb.RaftMessage{DiskUsage: disk_usage.DiskUsage_AlreadyFull}, 12, varint},
		{"SnapshotChunk.message", &raft_serverpb.SnapshotChunk{Message: &raft_serverpb.RaftMessage{}}, 1, bytes},
		{"SnapshotChunk.data", &raft_serverpb.SnapshotChunk{Data: []byte("d")}, 2, bytes},
		{"StoreIdent.cluster_id", &raft_serverpb.StoreIdent{ClusterId: 1}, 1, varint},
		{"StoreIdent.store_id", &raft_serverpb.StoreIdent{StoreId: 1}, 2, varint},
		{"StoreIdent.api_version", &raft_serverpb.StoreIdent{ApiVersion: kvrpcpb.APIVersion_V1TTL}, 3, varint},
		{"RaftLocalState.hard_state", &raft_serverpb.RaftLocalState{HardState: &eraftpb.HardState{Term: 1}}, 1, bytes},
		{"RaftLocalState.last_index", &raft_serverpb.RaftLocalState{LastIndex: 1}, 2, varint},
		{"RaftApplyState.applied_index", &raft_serverpb.RaftApplyState{AppliedIndex: 1}, 1, varint},
		{"RaftApplyState.truncated_state", &raft_serverpb.RaftApplyState{TruncatedState: &raft_serverpb.RaftTruncatedState{}}, 2, bytes},
		{"RaftApplyState.commit_index", &raft_serverpb.RaftApplyState{CommitIndex: 1}, 4, varint},
		{"RaftApplyState.commit_term", &raft_serverpb.RaftApplyState{CommitTerm: 1}, 5, varint},
		{"RegionLocalState.state", &raft_serverpb.RegionLocalState{State: raft_serverpb.PeerState_Tombstone}, 1, varint},
		{"RegionLocalState.region", &raft_serverpb.RegionLocalState{Region: region}, 2, bytes},
		{"RegionLocalState.merge_state", &raft_serverpb.RegionLocalState{MergeState: &raft_serverpb.MergeState{}}, 3, bytes},
		{"RaftSnapshotData.meta", &raft_serverpb.RaftSnapshotData{Meta: &raft_serverpb.SnapshotMeta{}}, 5, bytes},
		{"ExtraMessage.type", &raft_serverpb.ExtraMessage{Type: raft_serverpb.ExtraMessageType_MsgWantRollbackMerge}, 1, varint},
		{"ExtraMessage.forcely_awaken", &raft_serverpb.ExtraMessage{ForcelyAwaken: true}, 5, varint},
	})
	if raft_serverpb.PeerState_Merging != 3 || raft_serverpb.ExtraMessageType_MsgHibernateRequest != 4 {
		t.Errorf("raft_serverpb enum values changed")
	}
}

func TestRaftCmdpbWire(t *testing.T) {
	checkWire(t, []wireCase{
		{"RaftCmdRequest.header", &raft_cmdpb.RaftCmdRequest{Header: &raft_cmdpb.RaftRequestHeader{}}, 1, bytes},
		{"RaftCmdRequest.requests", &raft_cmdpb.RaftCmdRequest{Requests: []*raft_cmdpb.Request{{}}}, 2, bytes},
		{"RaftCmdRequest.admin_request", &raft_cmdpb.RaftCmdRequest{AdminRequest: &raft_cmdpb.AdminRequest{}}, 3, bytes},
		{"RaftCmdRequest.status_request", &raft_cmdpb.RaftCmdRequest{StatusRequest: &raft_cmdpb.StatusRequest{}}, 4, bytes},
		{"RaftRequestHeader.region_epoch", &raft_cmdpb.RaftRequestHeader{RegionEpoch: epoch}, 5, bytes},
		{"RaftRequestHeader.term", &raft_cmdpb.RaftRequestHeader{Term: 1}, 6, varint},
		{"RaftRequestHeader.applied_index", &raft_cmdpb.RaftRequestHeader{AppliedIndex: 1}, 9, varint},
		{"RaftResponseHeader.current_term", &raft_cmdpb.RaftResponseHeader{CurrentTerm: 1}, 3, varint},
		{"Request.put", &raft_cmdpb.Request{Put: &raft_cmdpb.PutRequest{}}, 4, bytes},
		{"Request.delete", &raft_cmdpb.Request{Delete: &raft_cmdpb.DeleteRequest{}}, 5, bytes},
		{"Request.delete_range", &raft_cmdpb.Request{DeleteRange: &raft_cmdpb.DeleteRangeRequest{}}, 8, bytes},
		{"Response.delte_range", &raft_cmdpb.Response{DelteRange: &raft_cmdpb.DeleteRangeResponse{}}, 8, bytes},
		{"AdminRequest.change_peer", &raft_cmdpb.AdminRequest{ChangePeer: &raft_cmdpb.ChangePeerRequest{}}, 2, bytes},
		{"AdminRequest.compact_log", &raft_cmdpb.AdminRequest{CompactLog: &raft_cmdpb.CompactLogRequest{}}, 4, bytes},
		{"AdminRequest.transfer_leader", &raft_cmdpb.AdminRequest{TransferLeader: &raft_cmdpb.TransferLeaderRequest{}}, 5, bytes},
		{"AdminRequest.splits", &raft_cmdpb.AdminRequest{Splits: &raft_cmdpb.BatchSplitRequest{}}, 10, bytes},
		{"AdminRequest.change_peer_v2", &raft_cmdpb.AdminRequest{ChangePeerV2: &raft_cmdpb.ChangePeerV2Request{}}, 11, bytes},
		{"AdminResponse.splits", &raft_cmdpb.AdminResponse{Splits: &raft_cmdpb.BatchSplitResponse{}}, 10, bytes},
		{"BatchSplitRequest.right_derive", &raft_cmdpb.BatchSplitRequest{RightDerive: true}, 2, varint},
	})
	if raft_cmdpb.CmdType_DeleteRange != 7 || raft_cmdpb.AdminCmdType_BatchSplit != 10 || raft_cmdpb.AdminCmdType_ChangePeerV2 != 11 {
		t.Errorf("raft_cmdpb enum values changed")
	}
}

func TestPdpbWire(t *testing.T) {
	hdr := &pdpb.RequestHeader{ClusterId: 1}
	checkWire(t, []wireCase{
		{"RequestHeader.cluster_id", hdr, 1, varint},
		{"RequestHeader.caller_id", &pdpb.RequestHeader{CallerId: "c"}, 3, bytes},
		{"ResponseHeader.error", &pdpb.ResponseHeader{Error: &pdpb.Error{}}, 2, bytes},
		{"RegionHeartbeatRequest.header", &pdpb.RegionHeartbeatRequest{Header: hdr}, 1, bytes},
		{"RegionHeartbeatRequest.region", &pdpb.RegionHeartbeatRequest{Region: region}, 2, bytes},
		{"RegionHeartbeatRequest.leader", &pdpb.RegionHeartbeatRequest{Leader: peer}, 3, bytes},
		{"RegionHeartbeatRequest.down_peers", &pdpb.RegionHeartbeatRequest{DownPeers: []*pdpb.PeerStats{{}}}, 4, bytes},
		{"RegionHeartbeatRequest.pending_peers", &pdpb.RegionHeartbeatRequest{PendingPeers: []*metapb.Peer{peer}}, 5, bytes},
		{"RegionHeartbeatRequest.approximate_size", &pdpb.RegionHeartbeatRequest{ApproximateSize: 1}, 10, varint},
		{"RegionHeartbeatRequest.interval", &pdpb.RegionHeartbeatRequest{Interval: &pdpb.TimeInterval{}}, 12, bytes},
		{"RegionHeartbeatRequest.approximate_keys", &pdpb.RegionHeartbeatRequest{ApproximateKeys: 1}, 13, varint},
		{"RegionHeartbeatRequest.term", &pdpb.RegionHeartbeatRequest{Term: 1}, 14, varint},
		{"RegionHeartbeatRequest.query_stats", &pdpb.RegionHeartbeatRequest{QueryStats: &pdpb.QueryStats{}}, 16, bytes},
		{"RegionHeartbeatResponse.change_peer", &pdpb.RegionHeartbeatResponse{ChangePeer: &pdpb.ChangePeer{}}, 2, bytes},
		{"RegionHeartbeatResponse.transfer_leader", &pdpb.RegionHeartbeatResponse{TransferLeader: &pdpb.TransferLeader{}}, 3, bytes},
		{"RegionHeartbeatResponse.region_id", &pdpb.RegionHeartbeatResponse{RegionId: 1}, 4, varint},
		{"RegionHeartbeatResponse.region_epoch", &pdpb.RegionHeartbeatResponse{RegionEpoch: epoch}, 5, bytes},
		{"RegionHeartbeatResponse.target_peer", &pdpb.RegionHeartbeatResponse{TargetPeer: peer}, 6, bytes},
		{"RegionHeartbeatResponse.merge", &pdpb.RegionHeartbeatResponse{Merge: &pdpb.Merge{}}, 7, bytes},
		{"RegionHeartbeatResponse.split_region", &pdpb.RegionHeartbeatResponse{SplitRegion: &pdpb.SplitRegion{}}, 8, bytes},
		{"RegionHeartbeatResponse.change_peer_v2", &pdpb.RegionHeartbeatResponse{ChangePeerV2: &pdpb.ChangePeerV2{}}, 9, bytes},
		{"RegionHeartbeatResponse.change_split", &pdpb.RegionHeartbeatResponse{ChangeSplit: &pdpb.ChangeSplit{}}, 11, bytes},
		{"GetRegionResponse.leader", &pdpb.GetRegionResponse{Leader: peer}, 3, bytes},
		{"GetRegionResponse.down_peers", &pdpb.GetRegionResponse{DownPeers: []*pdpb.PeerStats{{}}}, 5, bytes},
		{"GetRegionResponse.pending_peers", &pdpb.GetRegionResponse{PendingPeers: []*metapb.Peer{peer}}, 6, bytes},
		{"AskBatchSplitRequest.split_count", &pdpb.AskBatchSplitRequest{SplitCount: 1}, 3, varint},
		{"AskBatchSplitResponse.ids", &pdpb.AskBatchSplitResponse{Ids: []*pdpb.SplitID{{}}}, 2, bytes},
		{"TsoResponse.timestamp", &pdpb.TsoResponse{Timestamp: &pdpb.Timestamp{}}, 3, bytes},
		{"StoreStats.interval", &pdpb.StoreStats{Interval: &pdpb.TimeInterval{}}, 15, bytes},
		{"StoreStats.is_stopping", &pdpb.StoreStats{IsStopping: true}, 32, varint},
		{"StoreHeartbeatResponse.state", &pdpb.StoreHeartbeatResponse{State: metapb.NodeState_Removing}, 8, varint},
	})
}

// methodRecorder is a client interceptor that records each full method name
// instead of sending anything.
type methodRecorder struct{ names []string }

var errRecorded = errors.New("recorded")

func (r *methodRecorder) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///unused",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(_ context.Context, method string, _, _ any, _ *grpc.ClientConn, _ grpc.UnaryInvoker, _ ...grpc.CallOption) error {
			r.names = append(r.names, method)
			return errRecorded
		}),
		grpc.WithStreamInterceptor(func(_ context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, method string, _ grpc.Streamer, _ ...grpc.CallOption) (grpc.ClientStream, error) {
			r.names = append(r.names, method)
			return nil, errRecorded
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// serverMethods registers srv with register on a fresh server and returns
// "/service/method" -> "client,server" streaming flags.
func serverMethods(t *testing.T, service string, register func(*grpc.Server)) map[string]string {
	t.Helper()
	s := grpc.NewServer()
	register(s)
	info, ok := s.GetServiceInfo()[service]
	if !ok {
		t.Fatalf("service %q not registered; have %v", service, s.GetServiceInfo())
	}
	out := map[string]string{}
	for _, m := range info.Methods {
		out["/"+service+"/"+m.Name] = fmt.Sprintf("%v,%v", m.IsClientStream, m.IsServerStream)
	}
	return out
}

func checkMethods(t *testing.T, got map[string]string, want map[string]string, called []string) {
	t.Helper()
	for name, flags := range want {
		if got[name] != flags {
			t.Errorf("server method %s: streaming (client,server) = %q, want %q", name, got[name], flags)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected server method %s", name)
		}
	}
	sort.Strings(called)
	var wantNames []string
	for name := range want {
		wantNames = append(wantNames, name)
	}
	sort.Strings(wantNames)
	if !slices.Equal(called, wantNames) {
		t.Errorf("client called methods\n%v\nwant\n%v", called, wantNames)
	}
}

const (
	unary  = "false,false"
	client = "true,false"
	bidi   = "true,true"
)

func TestTikvMethodNames(t *testing.T) {
	want := map[string]string{
		"/tikvpb.Tikv/RawGet":            unary,
		"/tikvpb.Tikv/RawBatchGet":       unary,
		"/tikvpb.Tikv/RawPut":            unary,
		"/tikvpb.Tikv/RawBatchPut":       unary,
		"/tikvpb.Tikv/RawDelete":         unary,
		"/tikvpb.Tikv/RawBatchDelete":    unary,
		"/tikvpb.Tikv/RawScan":           unary,
		"/tikvpb.Tikv/RawDeleteRange":    unary,
		"/tikvpb.Tikv/RawBatchScan":      unary,
		"/tikvpb.Tikv/RawGetKeyTTL":      unary,
		"/tikvpb.Tikv/RawCompareAndSwap": unary,
		"/tikvpb.Tikv/Raft":              client,
		"/tikvpb.Tikv/BatchRaft":         client,
		"/tikvpb.Tikv/Snapshot":          client,
		"/tikvpb.Tikv/BatchCommands":     bidi,
	}
	got := serverMethods(t, "tikvpb.Tikv", func(s *grpc.Server) {
		tikvpb.RegisterTikvServer(s, &tikvpb.UnimplementedTikvServer{})
	})

	var rec methodRecorder
	c := tikvpb.NewTikvClient(rec.dial(t))
	ctx := context.Background()
	c.RawGet(ctx, &kvrpcpb.RawGetRequest{})
	c.RawBatchGet(ctx, &kvrpcpb.RawBatchGetRequest{})
	c.RawPut(ctx, &kvrpcpb.RawPutRequest{})
	c.RawBatchPut(ctx, &kvrpcpb.RawBatchPutRequest{})
	c.RawDelete(ctx, &kvrpcpb.RawDeleteRequest{})
	c.RawBatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{})
	c.RawScan(ctx, &kvrpcpb.RawScanRequest{})
	c.RawDeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{})
	c.RawBatchScan(ctx, &kvrpcpb.RawBatchScanRequest{})
	c.RawGetKeyTTL(ctx, &kvrpcpb.RawGetKeyTTLRequest{})
	c.RawCompareAndSwap(ctx, &kvrpcpb.RawCASRequest{})
	c.Raft(ctx)
	c.BatchRaft(ctx)
	c.Snapshot(ctx)
	c.BatchCommands(ctx)
	checkMethods(t, got, want, rec.names)
}

func TestPDMethodNames(t *testing.T) {
	want := map[string]string{
		"/pdpb.PD/GetMembers":        unary,
		"/pdpb.PD/Tso":               bidi,
		"/pdpb.PD/Bootstrap":         unary,
		"/pdpb.PD/IsBootstrapped":    unary,
		"/pdpb.PD/AllocID":           unary,
		"/pdpb.PD/GetStore":          unary,
		"/pdpb.PD/PutStore":          unary,
		"/pdpb.PD/GetAllStores":      unary,
		"/pdpb.PD/StoreHeartbeat":    unary,
		"/pdpb.PD/RegionHeartbeat":   bidi,
		"/pdpb.PD/GetRegion":         unary,
		"/pdpb.PD/GetPrevRegion":     unary,
		"/pdpb.PD/GetRegionByID":     unary,
		"/pdpb.PD/ScanRegions":       unary,
		"/pdpb.PD/AskSplit":          unary,
		"/pdpb.PD/ReportSplit":       unary,
		"/pdpb.PD/AskBatchSplit":     unary,
		"/pdpb.PD/ReportBatchSplit":  unary,
		"/pdpb.PD/GetClusterConfig":  unary,
		"/pdpb.PD/PutClusterConfig":  unary,
		"/pdpb.PD/ScatterRegion":     unary,
		"/pdpb.PD/GetGCSafePoint":    unary,
		"/pdpb.PD/UpdateGCSafePoint": unary,
		"/pdpb.PD/GetOperator":       unary,
	}
	got := serverMethods(t, "pdpb.PD", func(s *grpc.Server) {
		pdpbgrpc.RegisterPDServer(s, &pdpbgrpc.UnimplementedPDServer{})
	})

	var rec methodRecorder
	c := pdpbgrpc.NewPDClient(rec.dial(t))
	ctx := context.Background()
	c.GetMembers(ctx, &pdpb.GetMembersRequest{})
	c.Tso(ctx)
	c.Bootstrap(ctx, &pdpb.BootstrapRequest{})
	c.IsBootstrapped(ctx, &pdpb.IsBootstrappedRequest{})
	c.AllocID(ctx, &pdpb.AllocIDRequest{})
	c.GetStore(ctx, &pdpb.GetStoreRequest{})
	c.PutStore(ctx, &pdpb.PutStoreRequest{})
	c.GetAllStores(ctx, &pdpb.GetAllStoresRequest{})
	c.StoreHeartbeat(ctx, &pdpb.StoreHeartbeatRequest{})
	c.RegionHeartbeat(ctx)
	c.GetRegion(ctx, &pdpb.GetRegionRequest{})
	c.GetPrevRegion(ctx, &pdpb.GetRegionRequest{})
	c.GetRegionByID(ctx, &pdpb.GetRegionByIDRequest{})
	c.ScanRegions(ctx, &pdpb.ScanRegionsRequest{})
	c.AskSplit(ctx, &pdpb.AskSplitRequest{})
	c.ReportSplit(ctx, &pdpb.ReportSplitRequest{})
	c.AskBatchSplit(ctx, &pdpb.AskBatchSplitRequest{})
	c.ReportBatchSplit(ctx, &pdpb.ReportBatchSplitRequest{})
	c.GetClusterConfig(ctx, &pdpb.GetClusterConfigRequest{})
	c.PutClusterConfig(ctx, &pdpb.PutClusterConfigRequest{})
	c.ScatterRegion(ctx, &pdpb.ScatterRegionRequest{})
	c.GetGCSafePoint(ctx, &pdpb.GetGCSafePointRequest{})
	c.UpdateGCSafePoint(ctx, &pdpb.UpdateGCSafePointRequest{})
	c.GetOperator(ctx, &pdpb.GetOperatorRequest{})
	checkMethods(t, got, want, rec.names)
}
