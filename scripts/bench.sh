#!/usr/bin/env bash
# Benchmarks regionkv (a scheduler and 3 stores, each its own process) and,
# when an etcd binary is given, a 3-member etcd cluster, with the same
# harness (`regionkv bench`) and the same settings, and prints them side by
# side. Everything runs on loopback; every process this script starts is
# stopped by PID when it exits.
#
#   scripts/bench.sh [--etcd PATH] [--regions "1 64"] [--duration 15s]
#                    [--repeat 3] [--records 100000] [--workloads "put16 get16 put1 scan100"]
#                    [--out DIR] [--profile]
#
# ETCD=PATH works like --etcd. Workload set: put16 (put, 16 clients), get16
# (get, 16 clients; etcd linearizable), put1 (put, 1 client), scan100 (scan
# of 100 keys, 16 clients), and any built-in workload name (a..f, batch-put,
# ...) run with 16 clients. Keys are 16 bytes, values 128 bytes. Each
# repetition runs every workload on regionkv and then on etcd (interleaved,
# so that a noisy neighbour hits both; etcd runs again beside every region
# count); the table shows medians over the repetitions. --profile takes a
# 10 s CPU profile of store 1 (from its /debug/pprof/) during the first
# put16 run and samples its raft-DB syncs/s.
set -euo pipefail

ETCD=${ETCD:-}
REGIONS="1 64"
DURATION=15s
REPEAT=3
RECORDS=100000
WORKLOADS="put16 get16 put1 scan100"
OUT=""
PROFILE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--etcd) ETCD=$2; shift 2 ;;
	--regions) REGIONS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--repeat) REPEAT=$2; shift 2 ;;
	--records) RECORDS=$2; shift 2 ;;
	--workloads) WORKLOADS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--profile) PROFILE=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/regionkv-bench.XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
BIN=$WORK/regionkv
PORT=${PORT:-$((30000 + (RANDOM % 1500) * 20))}
PIDS=()

stop_pids() { # stop_pids PID...: SIGTERM, then SIGKILL whatever is left after 10 s
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 100); do
		local alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && return 0
		sleep 0.1
	done
	for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
	[ ${#PIDS[@]} -gt 0 ] && stop_pids "${PIDS[@]}"
	rm -rf "$WORK"/data-*
	echo "bench.sh: results in $OUT" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # wait_http URL: up to 60 s
	for _ in $(seq 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "bench.sh: $1 did not come up" >&2; return 1
}

echo "bench.sh: building regionkv" >&2
(cd "$ROOT" && go build -o "$BIN" .)

SCHED=127.0.0.1:$((PORT + 1))       # gRPC and HTTP API; embedded etcd on PORT+2, PORT+3
RKV_PIDS=()
start_regionkv() {
	local d=$WORK/data-rkv
	rm -rf "$d"; mkdir -p "$d"
	"$BIN" scheduler --addr "$SCHED" --data-dir "$d/scheduler" --log-file "$d/scheduler.log" &
	RKV_PIDS=($!); PIDS+=($!)
	wait_http "http://$SCHED/api/v1/health"
	for i in 1 2 3; do
		"$BIN" server --scheduler "$SCHED" --addr "127.0.0.1:$((PORT + 9 + i))" --status-addr "127.0.0.1:$((PORT + 12 + i))" \
			--data-dir "$d/store-$i" --log-file "$d/store-$i.log" &
		RKV_PIDS+=($!); PIDS+=($!)
	done
	for i in 1 2 3; do wait_http "http://127.0.0.1:$((PORT + 12 + i))/metrics"; done
}
stop_regionkv() {
	stop_pids "${RKV_PIDS[@]}"
	local keep=() p q
	for p in "${PIDS[@]}"; do
		local mine=0
		for q in "${RKV_PIDS[@]}"; do [ "$p" = "$q" ] && mine=1; done
		[ $mine = 0 ] && keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
	RKV_PIDS=()
}

ETCD_EPS=""
start_etcd() {
	local d=$WORK/data-etcd cluster="" i
	rm -rf "$d"; mkdir -p "$d"
	for i in 1 2 3; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((PORT + 19 + i))"; done
	for i in 1 2 3; do
		local c=http://127.0.0.1:$((PORT + 16 + i)) p=http://127.0.0.1:$((PORT + 19 + i))
		"$ETCD" --name "e$i" --data-dir "$d/e$i" --listen-client-urls "$c" --advertise-client-urls "$c" \
			--listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "$cluster" \
			--initial-cluster-state new --initial-cluster-token regionkv-bench --log-level error >"$d/e$i.log" 2>&1 &
		PIDS+=($!)
		ETCD_EPS+="${ETCD_EPS:+,}127.0.0.1:$((PORT + 16 + i))"
	done
	for i in 1 2 3; do wait_http "http://127.0.0.1:$((PORT + 16 + i))/health"; done
}

# flags_of NAME: the harness flags of a workload of the set.
flags_of() {
	case "$1" in
	put16) echo "--workload put --threads 16" ;;
	get16) echo "--workload get --threads 16" ;;
	put1) echo "--workload put --threads 1" ;;
	scan100) echo "--workload scan --threads 16 --scan-length 100 --scan-length-distribution constant" ;;
	*) echo "--workload $1 --threads 16" ;;
	esac
}
COMMON=(--records "$RECORDS" --key-size 16 --value-size 128 -o json --quiet)
bench_rkv() { "$BIN" bench "$@" --target regionkv --scheduler "$SCHED" "${COMMON[@]}"; }
bench_etcd() { "$BIN" bench "$@" --target etcd --endpoints "$ETCD_EPS" "${COMMON[@]}"; }

profile_store() { # CPU profile of store 1 and its raft-DB syncs/s over 10 s, in the background
	local m=http://127.0.0.1:$((PORT + 13))
	local s0 s1
	s0=$(curl -fsS "$m/metrics" | awk '/^regionkv_raftstore_raft_db_syncs_total/ {print $2}')
	curl -fsS -o "$OUT/store1-r$1-put16.cpu.pprof" "$m/debug/pprof/profile?seconds=10" || echo "bench.sh: no pprof" >&2
	s1=$(curl -fsS "$m/metrics" | awk '/^regionkv_raftstore_raft_db_syncs_total/ {print $2}')
	echo "regions=$1: store 1 raft-DB syncs/s over the profile: $(awk -v a="${s0:-0}" -v b="${s1:-0}" 'BEGIN {printf "%.0f", (b - a) / 10}')" >>"$OUT/store1-syncs.txt"
}

[ -n "$ETCD" ] && { echo "bench.sh: starting etcd (3 members)" >&2; start_etcd; bench_etcd load --workload put --threads 16 >"$OUT/etcd-load.json"; }
for n in $REGIONS; do
	echo "bench.sh: starting regionkv (scheduler + 3 stores), $n regions" >&2
	start_regionkv
	bench_rkv load --workload put --threads 16 --regions "$n" >"$OUT/rkv-r$n-load.json"
	for rep in $(seq "$REPEAT"); do
		for w in $WORKLOADS; do
			# shellcheck disable=SC2046
			if [ "$PROFILE" = 1 ] && [ "$w" = put16 ] && [ "$rep" = 1 ]; then profile_store "$n" & PROF=$!; fi
			# shellcheck disable=SC2046
			bench_rkv run $(flags_of "$w") --duration "$DURATION" >"$OUT/rkv-r$n-$w-$rep.json"
			[ -n "${PROF:-}" ] && { wait "$PROF" || true; PROF=""; }
			if [ -n "$ETCD" ]; then
				# shellcheck disable=SC2046
				bench_etcd run $(flags_of "$w") --duration "$DURATION" >"$OUT/etcd-$w-r$n-$rep.json"
			fi
			echo "bench.sh: regions=$n rep=$rep $w done" >&2
		done
	done
	stop_regionkv
done

# The table: medians over repetitions of ops/s, p50 and p99 (ms) and errors.
summary() { # summary LABEL FILE...
	local label=$1; shift
	jq -rs --arg lbl "$label" '
		def med: sort | .[(length - 1) / 2 | floor];
		[.[] | .results[] | select(.phase == "run") | .total] as $t
		| [$lbl, ($t | map(."ops-per-sec") | med | floor),
		   ($t | map(."p50-us") | med / 1000 * 100 | round / 100),
		   ($t | map(."p99-us") | med / 1000 * 100 | round / 100),
		   ($t | map(.errors) | add), ($t | length)] | @tsv' "$@"
}
{
	printf 'SYSTEM\tWORKLOAD\tOPS/S\tP50ms\tP99ms\tERRORS\tRUNS\n'
	for w in $WORKLOADS; do
		for n in $REGIONS; do printf 'regionkv-%sr\t%s\t%s\n' "$n" "$w" "$(summary x "$OUT"/rkv-r"$n"-"$w"-*.json | cut -f2-)"; done
		[ -n "$ETCD" ] && printf 'etcd-3\t%s\t%s\n' "$w" "$(summary x "$OUT"/etcd-"$w"-*.json | cut -f2-)"
	done
} | column -t -s $'\t' | tee "$OUT/table.txt"
[ -f "$OUT/store1-syncs.txt" ] && cat "$OUT/store1-syncs.txt"
exit 0
