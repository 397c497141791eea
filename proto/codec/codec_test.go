package codec

import (
	"bytes"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"

	"github.com/regionkv/regionkv/proto/pkg/kvrpcpb"
)

func TestGogoRoundTrip(t *testing.T) {
	in := &kvrpcpb.RawPutRequest{
		Context: &kvrpcpb.Context{RegionId: 7},
		Key:     []byte("k\x00\xff"),
		Value:   bytes.Repeat([]byte("v"), 1000),
		Cf:      "lock",
	}
	buf, err := Codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := in.Marshal()
	if got := buf.Materialize(); !bytes.Equal(got, want) {
		t.Fatalf("codec bytes differ from the generated Marshal")
	}
	out := &kvrpcpb.RawPutRequest{}
	if err := (Codec{}).Unmarshal(buf, out); err != nil {
		t.Fatal(err)
	}
	if out.Context.GetRegionId() != 7 || !bytes.Equal(out.Key, in.Key) || !bytes.Equal(out.Value, in.Value) || out.Cf != "lock" {
		t.Fatalf("round trip: got %v", out)
	}
}

func TestNonGogoMessagesFallBack(t *testing.T) {
	in := &healthpb.HealthCheckRequest{Service: "tikvpb.Tikv"}
	buf, err := Codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &healthpb.HealthCheckRequest{}
	if err := (Codec{}).Unmarshal(buf, out); err != nil {
		t.Fatal(err)
	}
	if out.Service != in.Service {
		t.Fatalf("health request round trip: got %q", out.Service)
	}
}

func TestMalformedInputIsAnError(t *testing.T) {
	bad := mem.BufferSlice{mem.SliceBuffer([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})}
	if err := (Codec{}).Unmarshal(bad, &kvrpcpb.RawPutRequest{}); err == nil {
		t.Fatal("malformed bytes decoded without error")
	}
}
