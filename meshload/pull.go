package meshload

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/canarygate/canarygate/meshload/agent"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Source fetches a generator's results after a sequence number of a boot: through the API server's pod proxy
// in a run, over loopback in tests.
type Source func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error)

// pullParams are the query parameters of a pull: the boot (when known), the sequence number after which
// results are wanted (acknowledging those up to it) and how many at most.
func pullParams(boot string, after uint64, max int) map[string]string {
	p := map[string]string{"after": strconv.FormatUint(after, 10), "max": strconv.Itoa(max)}
	if boot != "" {
		p["boot"] = boot
	}
	return p
}

// HTTPSource pulls from a generator's /results endpoint at base (e.g. http://127.0.0.1:9090/results).
func HTTPSource(client *http.Client, base string) Source {
	return func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error) {
		q := url.Values{}
		for k, v := range pullParams(boot, after, max) {
			q.Set(k, v)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
		if err != nil {
			return agent.Batch{}, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return agent.Batch{}, err
		}
		defer resp.Body.Close()
		return decodeBatch(resp.StatusCode, resp.Body)
	}
}

func decodeBatch(status int, body io.Reader) (agent.Batch, error) {
	if status != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return agent.Batch{}, fmt.Errorf("generator answered %d: %s", status, msg)
	}
	var b agent.Batch
	if err := json.NewDecoder(body).Decode(&b); err != nil {
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
	for _, r := range b.Results {
		if r.Seq <= c.Last {
			continue
		}
		if r.Seq != c.Last+1 {
			return p, fmt.Errorf("generator %s: results %d–%d missing from its answer", b.Generator, c.Last+1, r.Seq-1)
		}
		p.Results = append(p.Results, r)
		c.Last = r.Seq
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
