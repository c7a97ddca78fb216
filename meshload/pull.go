package meshload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/canarygate/canarygate/meshload/agent"
)

// Source fetches a generator's results after a sequence number of a boot: through the API server's pod proxy
// in a run, over loopback in tests.
type Source func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error)

// pullParams are the query parameters of a pull: the boot (when known), the sequence number after which
// results are wanted (acknowledging those up to it), how many at most, and the format of the answer. A
// generator of an older release ignores the format and answers JSON, which decodeBatch reads as well.
func pullParams(boot string, after uint64, max int, format string) map[string]string {
	p := map[string]string{"after": strconv.FormatUint(after, 10), "max": strconv.Itoa(max), agent.FormatParam: format}
	if boot != "" {
		p["boot"] = boot
	}
	return p
}

// MaxAnswerBytes bounds a generator's answer: a full pull (DefaultPullMax) is ~75 KiB in binary, ~800 KiB in
// JSON; a larger answer is not a generator's.
const MaxAnswerBytes = 64 << 20

// HTTPSource pulls from a generator's /results endpoint at base (e.g. http://127.0.0.1:9090/results), asking
// for the binary format.
func HTTPSource(client *http.Client, base string) Source {
	return HTTPSourceFormat(client, base, agent.FormatBinary)
}

// HTTPSourceFormat is HTTPSource asking for the given format (agent.FormatJSON or agent.FormatBinary).
func HTTPSourceFormat(client *http.Client, base, format string) Source {
	return func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error) {
		q := url.Values{}
		for k, v := range pullParams(boot, after, max, format) {
			q.Set(k, v)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
		if err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s: %w", base, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s: %w", base, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return agent.Batch{}, fmt.Errorf("pull %s: generator answered %d: %s", base, resp.StatusCode, bytes.TrimSpace(msg))
		}
		buf := answers.Get().(*bytes.Buffer)
		defer answers.Put(buf)
		buf.Reset()
		// One more than the bound, to tell an answer of exactly the bound from a longer one.
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, MaxAnswerBytes+1)); err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s: %w", base, err)
		}
		b, err := decodeBatch(buf.Bytes())
		if err != nil {
			return agent.Batch{}, fmt.Errorf("pull %s: %w", base, err)
		}
		return b, nil
	}
}

// answers keeps the buffers answers are read into from one pull to the next (what is decoded is copied out
// of them).
var answers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodeBatch decodes an answer in either format (agent.ParseBatch), within MaxAnswerBytes.
func decodeBatch(body []byte) (agent.Batch, error) {
	if len(body) > MaxAnswerBytes {
		return agent.Batch{}, fmt.Errorf("generator's answer is larger than %d MiB: not a results batch", MaxAnswerBytes>>20)
	}
	b, err := agent.ParseBatch(body)
	if err != nil {
		return agent.Batch{}, fmt.Errorf("generator's batch: %w", err)
	}
	return b, nil
}

// Cursor is what canarygate keeps per generator: the boot it reads and the last result it received. A pull
// acknowledges only what the cursor already holds, so a lost answer is asked for again.
type Cursor struct {
	Boot string
	Last uint64
	// Produced is the generator's count at the last pull; Lost counts results never received: those of a
	// previous boot still unpulled when its process restarted (at least that many).
	Produced, Lost uint64
	// Restarts counts the generator's process restarts seen.
	Restarts int
}

// Pulled is one pull's outcome.
type Pulled struct {
	// Results are the new results, in sequence order, each received once.
	Results []agent.Result
	// Offset is the generator's clock minus the local clock, within ±Bound (half the pull's round trip).
	Offset, Bound time.Duration
	Overflow      uint64
	// Revision is the generator's proxy revision.
	Revision string
	// Done: the generator stopped, every result it made was received, and this pull acknowledged the last of
	// them (a generator waits for that answer before it exits).
	Done bool
}

// Pull asks the generator for the results after the cursor and moves the cursor past them.
func (c *Cursor) Pull(ctx context.Context, src Source, max int, now func() time.Time) (Pulled, error) {
	var b agent.Batch
	var t0, t1 time.Time
	for attempt := 0; ; attempt++ {
		var err error
		t0 = now()
		b, err = src(ctx, c.Boot, c.Last, max)
		t1 = now()
		if err != nil {
			return Pulled{}, err
		}
		if b.Boot == c.Boot {
			break
		}
		if attempt == 2 {
			return Pulled{}, fmt.Errorf("generator %s: its boot changes at every pull (%s)", b.Generator, b.Boot)
		}
		if c.Boot != "" {
			// The generator's process restarted: what its previous boot made and we never got is gone.
			c.Lost += c.Produced - c.Last
			c.Restarts++
		}
		// Ask again, naming the new boot: only then does "after" mean its results.
		c.Boot, c.Last, c.Produced = b.Boot, 0, 0
	}
	var p Pulled
	var err error
	if p.Results, err = c.take(b); err != nil {
		return p, err
	}
	c.Produced = b.Produced
	mid := t0.Add(t1.Sub(t0) / 2)
	p.Offset = time.Unix(0, b.Now).Sub(mid)
	p.Bound = t1.Sub(t0) / 2
	p.Overflow = b.Overflow
	p.Revision = b.Revision
	p.Done = b.Stopped && c.Last == b.Produced && len(p.Results) == 0
	return p, nil
}

// take moves the cursor past the batch's new results and returns them: those after the cursor, which must
// follow it without a gap. Usually they are the batch's tail, returned as it is (no copy: a pull is
// thousands of results).
func (c *Cursor) take(b agent.Batch) ([]agent.Result, error) {
	rs := b.Results
	for len(rs) > 0 && rs[0].Seq <= c.Last {
		rs = rs[1:]
	}
	tail := true
	for i := range rs {
		if rs[i].Seq != c.Last+1+uint64(i) {
			tail = false
			break
		}
	}
	if tail {
		if len(rs) > 0 {
			c.Last = rs[len(rs)-1].Seq
		}
		return rs, nil
	}
	var out []agent.Result
	for _, r := range rs {
		if r.Seq <= c.Last {
			continue
		}
		if r.Seq != c.Last+1 {
			return out, fmt.Errorf("generator %s: results %d–%d missing from its answer", b.Generator, c.Last+1, r.Seq-1)
		}
		out = append(out, r)
		c.Last = r.Seq
	}
	return out, nil
}
