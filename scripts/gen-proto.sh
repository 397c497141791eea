#!/usr/bin/env bash
# Regenerates proto/pkg/<name>pb from proto/*.proto with gogofaster (generated
# Marshal/Unmarshal/Size, no reflection) and its gRPC plugin. Generated code is
# committed, so only people who change a .proto file need to run this.
set -euo pipefail
cd "$(dirname "$0")/.."

GOGO_VERSION=v1.3.2
if ! command -v protoc >/dev/null 2>&1; then
	echo "gen-proto: installing protobuf-compiler from Debian" >&2
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq protobuf-compiler >/dev/null
fi
GOBIN="$(go env GOPATH)/bin"
if [ ! -x "$GOBIN/protoc-gen-gogofaster" ]; then
	echo "gen-proto: installing protoc-gen-gogofaster $GOGO_VERSION" >&2
	go install "github.com/gogo/protobuf/protoc-gen-gogofaster@$GOGO_VERSION"
fi
export PATH="$GOBIN:$PATH"

GOGO_DIR="$(go list -m -f '{{.Dir}}' github.com/gogo/protobuf)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for f in proto/*.proto; do
	name="$(basename "$f" .proto)"
	protoc -I proto -I "$GOGO_DIR" -I "$GOGO_DIR/protobuf" \
		--gogofaster_out=plugins=grpc,paths=source_relative:"$out" "$f"
	mkdir -p "proto/pkg/$name"
	mv "$out/$name.pb.go" "proto/pkg/$name/$name.pb.go"
done
# gogofaster names imports of sibling protos by their go_package; nothing to fix up.
gofmt -w proto/pkg
echo "gen-proto: regenerated $(ls proto/*.proto | wc -l) files" >&2
