// Package chaos runs a three-member scheduler and five stores as real
// `regionkv` processes on loopback and injects faults while clients run
// workloads whose histories are checked afterwards:
//
//   - kill -9 and restart of a store, SIGSTOP / SIGCONT of a store;
//   - network partitions, one-way-looking cuts and delays between stores,
//     through a fault-injecting TCP proxy in front of every store (the
//     store advertises the proxy's address, so every peer and client
//     dials through it; the proxy learns which store process opened a
//     connection from /proc and applies the faults of that pair);
//   - kill -9 of the scheduler leader: the nemesis asks the members
//     (GetMembers) which one leads at that moment, kills it, waits until
//     the other two have elected a leader (a failover, bounded: no leader
//     within 15 s fails the test), holds, and restarts the killed member.
//     The members form one embedded etcd cluster (--initial-cluster) on
//     fixed ports, so a restarted member rejoins with its data. Clients
//     get every member's address; a store gets one running member's
//     (`regionkv server --scheduler` takes a single address) and learns
//     the others from it.
//   - kill -9 of a store, then, once the scheduler sees it gone, lowering
//     max-replicas or taking another store offline: the scheduler removes
//     replicas while one is down. When the fault ends, and at the end of
//     the run, the scheduler's regions must each have a quorum of peers on
//     live stores. (Stores heartbeat every second and the scheduler calls a
//     store Disconnected after three seconds of silence, so that it knows.)
//
// Every fault schedule comes from a seed and the fault phase's planned
// length alone (the time spent killing and restarting processes does not
// count), and the test prints both; replay one with -chaos.seed=N
// -chaos.duration=D. The default tier runs three fixed schedules, 40 s,
// 20 s and 20 s, which between them inject every kind of fault (about two
// and a half minutes in all, with the end checks); -chaos.long runs -chaos.seeds new seeds (20) of
// -chaos.duration (60 s) each (make chaos-long, which also sets
// -chaos.region-max-keys=300).
//
// Before the faults, the first region is split into six (splitKeys), so
// that the balancer moves replicas between the stores while the faults run
// (snapshots, destroys). -chaos.region-max-keys=N also makes the stores
// split any region past N keys, so that splits race the faults.
//
// Workloads: a register per key (get, put, compare-and-swap) checked for
// linearizability with porcupine; a set (every acknowledged insert is
// present at the end, nothing appears that was never written); an append
// per client (compare-and-swap on the client's own key: values in order,
// none lost or duplicated). A request that fails without a definite answer
// is modelled as an unknown outcome.
//
// At the end of every seed, once the final reads are done, the cluster is
// left to settle with scheduling frozen, every store is stopped cleanly,
// and their engines are compared offline (replicas_test.go,
// tests/replicacheck): every replica of every region must hold the same
// data at the same applied index, and no store may hold data outside the
// regions it serves.
package chaos
