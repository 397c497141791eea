package operator

import "github.com/regionkv/regionkv/proto/pkg/pdpb"

// Status is where an operator is in its life.
type Status int

// Operator statuses. Created and Started are live; the rest are final.
const (
	Created  Status = iota // built, not yet accepted by the controller
	Started                // accepted; its steps are being sent
	Success                // every step observed finished
	Timeout                // ran past its timeout
	Canceled               // canceled by a person or by a failed admission
	Replaced               // superseded by a higher-priority operator
	Expired                // the region changed in a way the operator did not expect
)

var statusNames = [...]string{"created", "started", "success", "timeout", "canceled", "replaced", "expired"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// transitions is the whole table of allowed status changes; anything not
// listed is a bug in the caller and is refused.
var transitions = map[Status][]Status{
	Created: {Started, Canceled},
	Started: {Success, Timeout, Canceled, Replaced, Expired},
}

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// IsFinal reports whether s ends an operator's life.
func (s Status) IsFinal() bool { return len(transitions[s]) == 0 }

// PB converts s to the wire status of GetOperator.
func (s Status) PB() pdpb.OperatorStatus {
	switch s {
	case Success:
		return pdpb.OperatorStatus_SUCCESS
	case Timeout:
		return pdpb.OperatorStatus_TIMEOUT
	case Canceled, Expired:
		return pdpb.OperatorStatus_CANCEL
	case Replaced:
		return pdpb.OperatorStatus_REPLACE
	}
	return pdpb.OperatorStatus_RUNNING
}
