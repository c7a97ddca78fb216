package scenarios

import (
	"fmt"
	"github.com/canarygate/canarygate/loadgen"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go writes durations ("30s", "2m", "1h30m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d back as "30s" (used by plan).
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalText makes d readable in JSON too.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) decodeNode(dec *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		dec.expected(n, path, "a duration such as 30s, 2m or 1h30m")
		return
	}
	s := dec.scalar(n, path)
	v, err := time.ParseDuration(s)
	if err != nil {
		dec.add(n, path, "%q is not a duration: expected a number with a unit, such as 30s, 2m or 1h30m", s)
		return
	}
	*d = Duration(v)
}

// Rate is a constant request rate: Freq requests every Per. Written "50/s", "10/1s", "600/1m", "5/100ms" or a
// bare number (per second), as vegeta's -rate flag takes it.
type Rate struct {
	Freq int
	Per  time.Duration
}

// PerSecond is the rate in requests per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 || r.Max() {
		return 0
	}
	return float64(r.Freq) / r.Per.Seconds()
}

func (r Rate) String() string {
	if r.Max() {
		return RateMax
	}
	if r.Per == time.Second {
		return fmt.Sprintf("%d/s", r.Freq)
	}
	return fmt.Sprintf("%d/%s", r.Freq, r.Per)
}

// MarshalYAML writes r as "50/s".
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// MarshalText makes r readable in JSON too.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// RateMax asks for as many requests as the stream's workers can send (vegeta -rate=0).
const RateMax = "max"

// Max reports whether the rate is "max": no schedule, as fast as maxWorkers allow.
func (r Rate) Max() bool { return r.Freq == 0 && r.Per > 0 }

// Interval is the time between two requests (0 for max).
func (r Rate) Interval() time.Duration {
	if r.Freq <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.Freq)
}

// ParseRate parses "50/s", "10/1s", "600/1m", "5/100ms", "50" or "max".
func ParseRate(s string) (Rate, error) {
	if strings.TrimSpace(s) == RateMax {
		return Rate{Freq: 0, Per: time.Second}, nil
	}
	r, err := loadgen.ParseRate(s)
	if err != nil {
		return Rate{}, fmt.Errorf("%w, or %s", err, RateMax)
	}
	return Rate{Freq: r.Freq, Per: r.Per}, nil
}

func (r *Rate) decodeNode(dec *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		dec.expected(n, path, "a rate such as 50/s")
		return
	}
	v, err := ParseRate(dec.scalar(n, path))
	if err != nil {
		dec.add(n, path, "%v", err)
		return
	}
	*r = v
}
