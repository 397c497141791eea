#!/usr/bin/env bash
# Runs regionkv's raft benchmarks (raft/bench_test.go) and their
# go.etcd.io/raft/v3 twins (this folder) interleaved on this machine:
# regionkv, etcd, regionkv, etcd, ... COUNT times each, so that drift in the
# machine's load hits both sides alike. Prints the median of each metric per
# side and the ratio regionkv/etcd (below 1: regionkv is faster or leaner).
#
#   raft/etcdcompare/compare.sh                 # COUNT=5, 1s per benchmark
#   COUNT=10 BENCHTIME=2s raft/etcdcompare/compare.sh
#   BENCH='^BenchmarkStepMsgApp$' raft/etcdcompare/compare.sh
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-'^(BenchmarkProposeCommit|BenchmarkStepMsgApp|BenchmarkStepMsgAppResp)$'}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd .. && go test -c -o "$tmp/regionkv.test" .)
go test -c -o "$tmp/etcd.test" .

for i in $(seq "$count"); do
	for side in regionkv etcd; do
		dir=.
		if [ "$side" = regionkv ]; then dir=..; fi
		(cd "$dir" && "$tmp/$side.test" -test.run '^$' -test.bench "$bench" \
			-test.benchmem -test.benchtime "$benchtime" -test.count 1) |
			grep '^Benchmark' | sed "s/^/$side /" | tee -a "$tmp/results" >&2
	done
done

# Lines look like:
#   regionkv BenchmarkStepMsgApp-2  2654120  465.1 ns/op  1200 B/op  2 allocs/op
awk '
function median(key,    n, i, j, v, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) {
		v = a[i]
		for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
		a[j + 1] = v
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function ratio(x, y) { return y == 0 ? (x == 0 ? "=" : "inf") : sprintf("%.2f", x / y) }
{
	side = $1
	name = $2
	sub(/-[0-9]+$/, "", name)
	if (!(name in seen)) { seen[name] = 1; names[++nnames] = name }
	for (f = 4; f < NF; f += 2) {
		unit = $(f + 1)
		units[unit] = 1
		key = side SUBSEP name SUBSEP unit
		val[key, ++cnt[key]] = $f
	}
}
END {
	printf "%-34s %-10s %14s %14s %8s\n", "benchmark (median)", "metric", "regionkv", "etcd", "ratio"
	split("ns/op ops/s B/op allocs/op", order, " ")
	for (i = 1; i <= nnames; i++) {
		for (u = 1; u <= 4; u++) {
			unit = order[u]
			r = "regionkv" SUBSEP names[i] SUBSEP unit
			e = "etcd" SUBSEP names[i] SUBSEP unit
			if (!(r in cnt) || !(e in cnt)) continue
			mr = median(r); me = median(e)
			printf "%-34s %-10s %14.1f %14.1f %8s\n", names[i], unit, mr, me, ratio(mr, me)
		}
	}
}' "$tmp/results"
