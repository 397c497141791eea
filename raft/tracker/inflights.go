package tracker

// Inflights is a bounded FIFO of the last log indexes carried by MsgApp
// messages that are in flight to one follower. The leader stops sending to a
// follower in StateReplicate when the window is full; acknowledgements free
// the window from the front.
//
// It is a ring buffer over a slice that grows lazily up to size, so idle
// followers cost nothing. Invariant: the indexes in the window are strictly
// increasing from start.
type Inflights struct {
	start  int      // position of the oldest in-flight index in buffer
	count  int      // number of in-flight indexes
	size   int      // capacity of the window (MaxInflightMsgs)
	buffer []uint64 // ring storage, len(buffer) <= size
}

// NewInflights returns an empty window of the given capacity.
func NewInflights(size int) *Inflights {
	return &Inflights{size: size}
}

// Clone returns an independent copy of the window.
func (in *Inflights) Clone() *Inflights {
	c := *in
	c.buffer = append([]uint64(nil), in.buffer...)
	return &c
}

// Add records that a MsgApp ending at index was sent. The caller must check
// Full first; adding to a full window is a bug.
func (in *Inflights) Add(index uint64) {
	if in.Full() {
		panic("tracker: cannot add into a full inflights window")
	}
	next := in.start + in.count
	if next >= in.size {
		next -= in.size
	}
	if next >= len(in.buffer) {
		in.grow()
	}
	in.buffer[next] = index
	in.count++
}

// grow doubles the ring storage (bounded by size). It is only called when
// the ring has not wrapped yet, so appending keeps the order intact.
func (in *Inflights) grow() {
	n := 2 * len(in.buffer)
	if n == 0 {
		n = 1
	} else if n > in.size {
		n = in.size
	}
	buf := make([]uint64, n)
	copy(buf, in.buffer)
	in.buffer = buf
}

// FreeLE frees every in-flight index less than or equal to to: the follower
// acknowledged everything up to to.
func (in *Inflights) FreeLE(to uint64) {
	if in.count == 0 || to < in.buffer[in.start] {
		return
	}
	idx := in.start
	i := 0
	for ; i < in.count; i++ {
		if to < in.buffer[idx] {
			break
		}
		idx++
		if idx >= in.size {
			idx -= in.size
		}
	}
	in.count -= i
	in.start = idx
	if in.count == 0 {
		// Restart at the front so the buffer does not need to wrap.
		in.start = 0
	}
}

// FreeFirstOne frees the oldest in-flight message. The leader uses it when a
// heartbeat response proves the follower alive while the window is full, so a
// window stuck on lost messages drains.
func (in *Inflights) FreeFirstOne() {
	if in.count == 0 {
		return
	}
	in.FreeLE(in.buffer[in.start])
}

// Full reports whether no more messages may be sent.
func (in *Inflights) Full() bool { return in.count == in.size }

// Count returns the number of in-flight messages.
func (in *Inflights) Count() int { return in.count }

// Reset empties the window.
func (in *Inflights) Reset() {
	in.count = 0
	in.start = 0
}
