package chaos

import (
	"fmt"
	"sort"
	"strings"
)

// report sums what seeds did and found.
type report struct {
	seeds, histories, violations, inconclusive int
	ops, unknown                               int64
	setLost, appendLost                        int
	belowQuorum                                int // regions found without a live quorum
	// replicaViolations counts what the end check on replicas found.
	replicaViolations int
	faults            map[fault]int
}

func (r *report) add(o report) {
	r.seeds += o.seeds
	r.histories += o.histories
	r.violations += o.violations
	r.inconclusive += o.inconclusive
	r.ops += o.ops
	r.unknown += o.unknown
	r.setLost += o.setLost
	r.appendLost += o.appendLost
	r.belowQuorum += o.belowQuorum
	r.replicaViolations += o.replicaViolations
	if r.faults == nil {
		r.faults = map[fault]int{}
	}
	for f, n := range o.faults {
		r.faults[f] += n
	}
}

func (r *report) String() string {
	var fs []string
	for f, n := range r.faults {
		fs = append(fs, fmt.Sprintf("%s=%d", f, n))
	}
	sort.Strings(fs)
	return fmt.Sprintf("seeds=%d histories-checked=%d ops=%d unknown-outcome=%d linearizability-violations=%d inconclusive=%d acked-writes-lost=%d (set %d, append %d) replica-violations=%d regions-below-quorum=%d faults: %s",
		r.seeds, r.histories, r.ops, r.unknown, r.violations, r.inconclusive, r.setLost+r.appendLost, r.setLost, r.appendLost,
		r.replicaViolations, r.belowQuorum, strings.Join(fs, " "))
}
