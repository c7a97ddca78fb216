package aggregate

import "time"

// sent is what send-order accounting needs of a result.
type sent struct {
	// seq is vegeta's number of the request: its place in send order.
	seq    uint64
	at     time.Time
	failed bool
	// local marks a request the generator's machine failed to send (a local resource error).
	local bool
	// phase is the timeline phase the request was sent in, -1 for none.
	phase int
}

// sendOrder hands results on in the order their requests were sent. Results complete out of order (a
// request that times out after 5 s completes long after the successes sent behind it), but vegeta numbers
// each request (Seq) under the same lock that stamps its send time, so Seq order is send order. Only results
// that completed before an earlier one wait here: at most the requests in flight.
type sendOrder struct {
	next    uint64
	pending map[uint64]sent
}

func (o *sendOrder) add(r sent, emit func(sent)) {
	switch seq := r.seq; {
	case seq == o.next:
		emit(r)
		o.next++
		for {
			p, ok := o.pending[o.next]
			if !ok {
				return
			}
			delete(o.pending, o.next)
			emit(p)
			o.next++
		}
	case seq > o.next:
		if o.pending == nil {
			o.pending = map[uint64]sent{}
		}
		o.pending[seq] = r
	default:
		// A sequence number already passed: a result from a source that does not number its requests.
		// It is counted where it arrives.
		emit(r)
	}
}

// flush emits what is still waiting, in send order (the results it waited for never came).
func (o *sendOrder) flush(emit func(sent)) {
	for len(o.pending) > 0 {
		p, ok := o.pending[o.next]
		if ok {
			delete(o.pending, o.next)
			emit(p)
		}
		o.next++
	}
}

// burstTracker follows runs of failures in send order: the longest run by count, and the longest by how long
// it lasted — from the send time of its first failure to the send time of the first request after it that
// did not fail (the outage as a client saw it), or to the last failure's send time while it is still open.
type burstTracker struct {
	run        int64
	runStart   time.Time
	lastFail   time.Time
	longestRun int64
	longest    time.Duration
}

func (b *burstTracker) add(r sent) {
	if !r.failed {
		b.end(r.at)
		return
	}
	if b.run == 0 {
		b.runStart = r.at
	}
	b.run++
	b.lastFail = r.at
	b.longestRun = max(b.longestRun, b.run)
}

// end closes the open run (if any) at t.
func (b *burstTracker) end(t time.Time) {
	if b.run == 0 {
		return
	}
	b.longest = max(b.longest, t.Sub(b.runStart))
	b.run = 0
}

// longestSpan is the longest run's duration, counting an open run up to its last failure.
func (b *burstTracker) longestSpan() time.Duration {
	if b.run > 0 {
		return max(b.longest, b.lastFail.Sub(b.runStart))
	}
	return b.longest
}
