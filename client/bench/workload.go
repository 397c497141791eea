package bench

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// Op is one kind of operation a workload issues; reports are per Op.
type Op string

// Operation kinds. read/update/insert/scan/rmw are YCSB's; put/get are the
// pure workloads' single-key operations; batch-put/batch-get carry
// --batch-size keys each.
const (
	OpRead     Op = "read"
	OpUpdate   Op = "update"
	OpInsert   Op = "insert"
	OpScan     Op = "scan"
	OpRMW      Op = "read-modify-write"
	OpPut      Op = "put"
	OpGet      Op = "get"
	OpBatchPut Op = "batch-put"
	OpBatchGet Op = "batch-get"
)

// Workload is a mix of operations by weight, and the key distribution the
// workload prescribes unless --distribution overrides it.
type Workload struct {
	Name         string
	Desc         string
	Mix          []Weighted
	Distribution string
}

// Weighted is one operation kind and its share of the mix.
type Weighted struct {
	Op     Op
	Weight float64
}

// Workloads are the built-in workloads, by name (YCSB core workloads a–f
// use YCSB's default proportions and distributions).
var Workloads = map[string]Workload{
	"a":         {Desc: "update heavy: 50% read, 50% update", Mix: []Weighted{{OpRead, 0.5}, {OpUpdate, 0.5}}, Distribution: DistZipfian},
	"b":         {Desc: "read mostly: 95% read, 5% update", Mix: []Weighted{{OpRead, 0.95}, {OpUpdate, 0.05}}, Distribution: DistZipfian},
	"c":         {Desc: "read only", Mix: []Weighted{{OpRead, 1}}, Distribution: DistZipfian},
	"d":         {Desc: "read latest: 95% read, 5% insert", Mix: []Weighted{{OpRead, 0.95}, {OpInsert, 0.05}}, Distribution: DistLatest},
	"e":         {Desc: "short ranges: 95% scan, 5% insert", Mix: []Weighted{{OpScan, 0.95}, {OpInsert, 0.05}}, Distribution: DistZipfian},
	"f":         {Desc: "read-modify-write: 50% read, 50% read-modify-write", Mix: []Weighted{{OpRead, 0.5}, {OpRMW, 0.5}}, Distribution: DistZipfian},
	"put":       {Desc: "pure put (overwrites of loaded records)", Mix: []Weighted{{OpPut, 1}}, Distribution: DistUniform},
	"get":       {Desc: "pure get", Mix: []Weighted{{OpGet, 1}}, Distribution: DistUniform},
	"scan":      {Desc: "pure scan", Mix: []Weighted{{OpScan, 1}}, Distribution: DistUniform},
	"batch-put": {Desc: "batch put of --batch-size keys", Mix: []Weighted{{OpBatchPut, 1}}, Distribution: DistUniform},
	"batch-get": {Desc: "batch get of --batch-size keys", Mix: []Weighted{{OpBatchGet, 1}}, Distribution: DistUniform},
}

// LookupWorkload returns the named workload.
func LookupWorkload(name string) (Workload, error) {
	w, ok := Workloads[strings.ToLower(name)]
	if !ok {
		return Workload{}, fmt.Errorf("bench: unknown workload %q (%s)", name, strings.Join(WorkloadNames(), ", "))
	}
	w.Name = strings.ToLower(name)
	return w, nil
}

// WorkloadNames lists the built-in workloads, sorted.
func WorkloadNames() []string {
	var names []string
	for n := range Workloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// opPicker draws operation kinds in the workload's proportions.
type opPicker struct {
	ops []Op
	cum []float64 // cumulative weights, normalized to end at 1
}

func newOpPicker(mix []Weighted) (*opPicker, error) {
	var total float64
	for _, w := range mix {
		if w.Weight < 0 {
			return nil, fmt.Errorf("bench: negative weight for %s", w.Op)
		}
		total += w.Weight
	}
	if total <= 0 {
		return nil, fmt.Errorf("bench: empty operation mix")
	}
	p := &opPicker{}
	var acc float64
	for _, w := range mix {
		acc += w.Weight / total
		p.ops = append(p.ops, w.Op)
		p.cum = append(p.cum, acc)
	}
	p.cum[len(p.cum)-1] = 1
	return p, nil
}

func (p *opPicker) next(r *rand.Rand) Op {
	u := r.Float64()
	for i, c := range p.cum {
		if u < c {
			return p.ops[i]
		}
	}
	return p.ops[len(p.ops)-1]
}
