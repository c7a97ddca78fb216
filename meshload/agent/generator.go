package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/canarygate/canarygate/demoapp"
	"github.com/canarygate/canarygate/demoapp/grpcecho"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/loadgen"
)

// Defaults of a generator.
const (
	// DefaultBuffer is how many unacknowledged results a generator keeps: at 1 000/s, 100 s of pulls missed.
	DefaultBuffer = 100_000
	// DefaultPullMax is how many results one pull returns at most.
	DefaultPullMax = 5_000
)

// Generator is one in-cluster load generator: an attack whose results wait in Buffer to be pulled.
type Generator struct {
	// Name is the generator's pod; Boot identifies this process (results are numbered per boot).
	Name, Boot string
	// Revision is the generator's proxy revision, from its pod's injection status.
	Revision string
	Buffer   *Buffer
	// Clock is the generator's clock (time.Now unless a test says otherwise).
	Clock func() time.Time
}

// NewGenerator returns a generator with a buffer of the given capacity and a fresh boot id.
func NewGenerator(name string, capacity int) *Generator {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Generator{Name: name, Boot: hex.EncodeToString(b[:]), Buffer: NewBuffer(capacity), Clock: time.Now}
}

// Run attacks the target until ctx ends, keeping every result; then the buffer is marked stopped (its
// remaining results are still served until acknowledged).
func (g *Generator) Run(ctx context.Context, target loadgen.Target, opts ...loadgen.Option) {
	defer g.Buffer.Stop()
	for r := range loadgen.Attack(ctx, []loadgen.Target{target}, opts...) {
		res := Result{Sent: r.Timestamp.UnixNano(), Latency: int64(r.Latency), Code: r.Code, Error: r.Error,
			Callee: r.Headers.Get(demoapp.RevisionHeader)}
		if id := r.Headers.Get(grpcecho.PeerHeader); id != "" {
			// gRPC: the identity the callee's own TLS handshake proved.
			res.Peer = id
		} else if h := r.Headers.Get(demoapp.ClientCertHeader); h != "" {
			if id, err := istio.CallerIdentity(h); err == nil {
				res.Peer = id.String()
			}
		}
		g.Buffer.Add(res)
	}
}

// ServeHTTP answers GET /results?boot=B&after=N&max=M&format=F with a Batch: JSON, or binary version 1 for
// format=bin1 (wire.go; any other format is refused with 400, naming the two). Asking for the results after
// N acknowledges those up to N — but only when B is this generator's boot: numbers from a previous
// process's results acknowledge nothing of this one's.
func (g *Generator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if q.Get("after") == "" {
		after, err = 0, nil
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("after=%q: expected a sequence number", q.Get("after")), http.StatusBadRequest)
		return
	}
	max := DefaultPullMax
	if m := q.Get("max"); m != "" {
		if max, err = strconv.Atoi(m); err != nil || max <= 0 {
			http.Error(w, fmt.Sprintf("max=%q: expected a positive number", m), http.StatusBadRequest)
			return
		}
	}
	format := q.Get(FormatParam)
	if format != "" && format != FormatJSON && format != FormatBinary {
		// A puller of another release: say what this generator speaks rather than answer in a format it
		// would misread.
		http.Error(w, fmt.Sprintf("%s=%q: this generator speaks %s and %s", FormatParam, format, FormatJSON, FormatBinary), http.StatusBadRequest)
		return
	}
	if boot := q.Get("boot"); boot != "" && boot != g.Boot {
		after = 0
	}
	b := g.Buffer.Pull(after, max)
	b.Generator, b.Boot, b.Revision, b.Now = g.Name, g.Boot, g.Revision, g.Clock().UnixNano()
	if format != FormatBinary {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b)
		return
	}
	buf := encodeBuffers.Get().(*[]byte)
	defer encodeBuffers.Put(buf)
	*buf, _ = b.AppendBinary((*buf)[:0])
	w.Header().Set("Content-Type", BinaryContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(*buf)))
	_, _ = w.Write(*buf)
}

// encodeBuffers keeps the binary answers' buffers from one pull to the next.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}
