// Package chaos runs a scheduler and five stores as real `regionkv`
// processes on loopback and injects faults while clients run workloads
// whose histories are checked afterwards:
//
//   - kill -9 and restart of a store, SIGSTOP / SIGCONT of a store;
//   - network partitions, one-way-looking cuts and delays between stores,
//     through a fault-injecting TCP proxy in front of every store (the
//     store advertises the proxy's address, so every peer and client
//     dials through it; the proxy learns which store process opened a
//     connection from /proc and applies the faults of that pair);
//   - kill -9 and restart of the scheduler.
//
// Every fault schedule comes from a seed printed by the test; replay one
// with -chaos.seed=N. The default tier runs one seed for about a minute;
// -chaos.long runs 20 seeds of 60 s each (make chaos-long).
//
// Workloads: a register per key (get, put, compare-and-swap) checked for
// linearizability with porcupine; a set (every acknowledged insert is
// present at the end, nothing appears that was never written); an append
// per client (compare-and-swap on the client's own key: values in order,
// none lost or duplicated). A request that fails without a definite answer
// is modelled as an unknown outcome.
package chaos
