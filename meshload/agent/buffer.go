package agent

import "sync"

// Result is one request a generator made, as it travels to canarygate.
type Result struct {
	// Seq numbers the generator's results from 1, in the order they were recorded.
	Seq uint64 `json:"seq"`
	// Sent is the send time on the generator's clock (Unix nanoseconds).
	Sent int64 `json:"sent"`
	// Latency is in nanoseconds.
	Latency int64  `json:"latency"`
	Code    uint16 `json:"code"`
	Error   string `json:"error,omitempty"`
	// Peer is the client identity the callee's sidecar saw (the URI of the X-Forwarded-Client-Cert header the
	// demo app echoes), empty when the call was not mutual TLS.
	Peer string `json:"peer,omitempty"`
	// Callee is the answering pod's proxy revision (demoapp.RevisionHeader), "" when unknown.
	Callee string `json:"callee,omitempty"`
}

// MTLSFrom reports whether the call is proven mutual TLS from the given identity (the generator's SPIFFE
// identity): the callee's sidecar saw exactly that client certificate. No header, or another identity, is
// not proof.
func (r Result) MTLSFrom(identity string) bool { return r.Peer != "" && r.Peer == identity }

// Buffer keeps results until they are acknowledged, up to a capacity. It is safe for concurrent use.
type Buffer struct {
	mu       sync.Mutex
	capacity int
	items    []Result
	next     uint64 // the Seq the next result gets
	overflow uint64
	stopped  bool
	// told: an answer saying "stopped, nothing left" was given, so the puller knows it has everything.
	told    bool
	changed chan struct{}
}

// NewBuffer returns a buffer for at most capacity unacknowledged results.
func NewBuffer(capacity int) *Buffer {
	return &Buffer{capacity: capacity, next: 1, changed: make(chan struct{})}
}

// Add numbers and keeps a result; when the buffer is full the result is counted as overflow instead.
func (b *Buffer) Add(r Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) >= b.capacity {
		b.overflow++
		return
	}
	r.Seq = b.next
	b.next++
	b.items = append(b.items, r)
	b.notify()
}

// Stop says no result will be added any more (the attack ended).
func (b *Buffer) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	b.notify()
}

func (b *Buffer) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Batch is one answer to a pull.
type Batch struct {
	// Generator names the generator (its pod); Boot changes when its process restarts (Seq starts again).
	Generator string `json:"generator"`
	Boot      string `json:"boot"`
	// Revision is the generator's own proxy revision (its injection status), "" when it has no proxy.
	Revision string   `json:"revision,omitempty"`
	Results  []Result `json:"results"`
	// Produced is the Seq of the last result recorded so far; Overflow the results not kept (buffer full).
	Produced uint64 `json:"produced"`
	Overflow uint64 `json:"overflow"`
	// Stopped: the attack ended, so once the results up to Produced are pulled there is nothing more.
	Stopped bool `json:"stopped"`
	// Now is the generator's clock when it answered (Unix nanoseconds).
	Now int64 `json:"now"`
}

// Pull acknowledges (drops) every result up to after and returns at most max of those after it.
func (b *Buffer) Pull(after uint64, max int) Batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := 0
	for i < len(b.items) && b.items[i].Seq <= after {
		i++
	}
	if i > 0 {
		b.items = append(b.items[:0:0], b.items[i:]...)
		b.notify()
	}
	if b.stopped && len(b.items) == 0 && !b.told {
		b.told = true
		b.notify()
	}
	n := min(max, len(b.items))
	return Batch{Results: append([]Result(nil), b.items[:n]...), Produced: b.next - 1, Overflow: b.overflow, Stopped: b.stopped}
}

// Len is the number of unacknowledged results.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// Drained reports whether the attack stopped, every result was acknowledged, and a pull was answered with
// that news: a generator may exit only then, or the puller would never learn it had everything.
func (b *Buffer) Drained() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped && len(b.items) == 0 && b.told
}

// Changed returns a channel that is closed at the buffer's next change.
func (b *Buffer) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}
