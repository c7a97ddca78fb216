package istio

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxExpositionLine bounds one line of a scraped exposition (Envoy's label sets are long, not that long).
const MaxExpositionLine = 1 << 20

// Families parses only the named metric families out of a Prometheus text exposition. The exposition may be
// several concatenated: pilot-agent's :15020/stats/prometheus is its own metrics, Envoy's and the app's, one
// after the other (pilot-agent/status/server.go), so the same # HELP/# TYPE line can appear twice and a family
// of one part can follow another's. A strict parse of the whole body fails on that; here lines of other
// families are skipped, each wanted family's lines are gathered in one block and its repeated HELP/TYPE lines
// kept once — so what the caller reads is parsed strictly, and nothing else can break it.
func Families(r io.Reader, names ...string) (map[string]*dto.MetricFamily, error) {
	type block struct {
		help, typ string
		samples   []string
	}
	blocks := map[string]*block{}
	var order []string
	get := func(name string) *block {
		b, ok := blocks[name]
		if !ok {
			b = &block{}
			blocks[name] = b
			order = append(order, name)
		}
		return b
	}
	family := func(metric string) (string, bool) {
		if slices.Contains(names, metric) {
			return metric, true
		}
		// Histogram and summary series carry a suffix on their family's name.
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(metric, suf); ok && slices.Contains(names, base) {
				return base, true
			}
		}
		return "", false
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxExpositionLine)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			f := strings.Fields(line)
			if len(f) < 3 || (f[1] != "HELP" && f[1] != "TYPE") || !slices.Contains(names, f[2]) {
				continue
			}
			b := get(f[2])
			if f[1] == "HELP" && b.help == "" {
				b.help = line
			} else if f[1] == "TYPE" && b.typ == "" {
				b.typ = line
			}
		default:
			end := strings.IndexAny(line, "{ \t")
			if end < 0 {
				continue
			}
			if name, ok := family(line[:end]); ok {
				b := get(name)
				b.samples = append(b.samples, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var text strings.Builder
	for _, name := range order {
		b := blocks[name]
		for _, l := range append([]string{b.help, b.typ}, b.samples...) {
			if l != "" {
				text.WriteString(l)
				text.WriteByte('\n')
			}
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text.String()))
	if err != nil {
		return nil, fmt.Errorf("parse metrics %v: %w", names, err)
	}
	return fams, nil
}
