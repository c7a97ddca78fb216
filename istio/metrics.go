package istio

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// RequestsTotal is the standard Istio request counter.
const RequestsTotal = "istio_requests_total"

// MutualTLS is connection_security_policy's value for mutual TLS (only destination reporters know it).
const MutualTLS = "mutual_tls"

// Sample is one series of istio_requests_total.
type Sample struct {
	// Pod is the pod whose proxy reported the series (set by the caller that scraped it).
	Pod                      string
	Reporter                 string
	SourceWorkload           string
	SourceNamespace          string
	SourcePrincipal          string
	DestinationWorkload      string
	DestinationNamespace     string
	ResponseCode             string
	ResponseFlags            string
	ConnectionSecurityPolicy string
	Value                    float64
}

// key identifies a series across two scrapes of the same pod.
func (s Sample) key() string {
	return strings.Join([]string{s.Pod, s.Reporter, s.SourceNamespace, s.SourceWorkload, s.SourcePrincipal,
		s.DestinationNamespace, s.DestinationWorkload, s.ResponseCode, s.ResponseFlags, s.ConnectionSecurityPolicy}, "\x00")
}

// ErrCounterReset: a series went down between two scrapes — its proxy restarted, so the window's count is
// unknown.
var ErrCounterReset = errors.New("counter reset")

// Diff returns what happened between two scrapes: each series' increase. Series only in after started in
// the window (they count whole); a series that went down means its proxy restarted (ErrCounterReset).
func Diff(before, after []Sample) ([]Sample, error) {
	prev := make(map[string]float64, len(before))
	for _, s := range before {
		prev[s.key()] += s.Value
	}
	var out []Sample
	for _, s := range after {
		d := s.Value - prev[s.key()]
		if d < 0 {
			return nil, fmt.Errorf("%w: %s %s→%s %s went from %g to %g", ErrCounterReset, s.Pod, s.Source(), s.Destination(), s.ResponseCode, prev[s.key()], s.Value)
		}
		if d > 0 {
			s.Value = d
			out = append(out, s)
		}
	}
	return out, nil
}

// Workload names a workload in a namespace.
type Workload struct{ Namespace, Name string }

func (w Workload) String() string { return w.Namespace + "/" + w.Name }

// Source is the calling workload.
func (s Sample) Source() Workload { return Workload{s.SourceNamespace, s.SourceWorkload} }

// Destination is the called workload.
func (s Sample) Destination() Workload {
	return Workload{s.DestinationNamespace, s.DestinationWorkload}
}

// ParseMetrics reads a Prometheus text exposition (a sidecar's /stats/prometheus, merged or Envoy's own) and
// returns the istio_requests_total series; other families are not parsed (see Families).
func ParseMetrics(r io.Reader) ([]Sample, error) {
	fams, err := Families(r, RequestsTotal)
	if err != nil {
		return nil, fmt.Errorf("parse proxy metrics: %w", err)
	}
	fam, ok := fams[RequestsTotal]
	if !ok {
		return nil, nil
	}
	var out []Sample
	for _, m := range fam.GetMetric() {
		l := labels(m)
		v := 0.0
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		}
		out = append(out, Sample{
			Reporter: l["reporter"], SourceWorkload: l["source_workload"], SourceNamespace: l["source_workload_namespace"],
			SourcePrincipal: l["source_principal"], DestinationWorkload: l["destination_workload"],
			DestinationNamespace: l["destination_workload_namespace"], ResponseCode: l["response_code"], ResponseFlags: l["response_flags"],
			ConnectionSecurityPolicy: l["connection_security_policy"], Value: v,
		})
	}
	return out, nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// Gauge returns the sum of a gauge's series matching the given labels (e.g. istiod's pilot_xds, connected
// proxies per xDS type).
func Gauge(r io.Reader, name string, match map[string]string) (float64, bool, error) {
	fams, err := Families(r, name)
	if err != nil {
		return 0, false, fmt.Errorf("parse metrics: %w", err)
	}
	fam, ok := fams[name]
	if !ok {
		return 0, false, nil
	}
	sum := 0.0
	for _, m := range fam.GetMetric() {
		l := labels(m)
		matches := true
		for k, v := range match {
			if l[k] != v {
				matches = false
			}
		}
		if matches {
			sum += m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return sum, true, nil
}

// Pair is a caller revision and a callee revision.
type Pair struct{ From, To string }

// Cell is what the calls of one revision pair did.
type Cell struct {
	// Requests counts what the destination proxies saw.
	Requests  float64 `json:"requests"`
	MutualTLS float64 `json:"mutualTLS"`
	// Plaintext counts requests the destination saw without mutual TLS.
	Plaintext float64 `json:"plaintext"`
	// Failed counts responses that were not 2xx, as the destination reported them.
	Failed float64 `json:"failed"`
	// SourceRequests and SourceFailed are what the calling proxies reported: a call whose TLS handshake
	// failed never reaches the destination's counters, only the caller's (503, flags UF/URX).
	SourceRequests float64 `json:"sourceRequests"`
	SourceFailed   float64 `json:"sourceFailed"`
	// Calls lists the workload pairs behind the cell.
	Calls []string `json:"calls"`
}

// OK reports whether the destinations saw calls, all over mutual TLS and 2xx, and no caller saw a failure.
func (c Cell) OK() bool {
	return c.Requests > 0 && c.Plaintext == 0 && c.Failed == 0 && c.SourceFailed == 0
}

// Matrix builds the revision × revision matrix. revisionOf says which revision a workload's proxy ran
// (samples whose workloads it does not know are skipped). Only the destination knows whether the connection
// was mutual TLS; only the source knows of calls that never reached the destination: both are counted.
func Matrix(samples []Sample, revisionOf func(Workload) (string, bool)) map[Pair]*Cell {
	out := map[Pair]*Cell{}
	for _, s := range samples {
		from, ok1 := revisionOf(s.Source())
		to, ok2 := revisionOf(s.Destination())
		if !ok1 || !ok2 {
			continue
		}
		p := Pair{from, to}
		c := out[p]
		if c == nil {
			c = &Cell{}
			out[p] = c
		}
		if s.Reporter == "source" {
			c.SourceRequests += s.Value
			if !is2xx(s.ResponseCode) {
				c.SourceFailed += s.Value
			}
			continue
		}
		if s.Reporter != "destination" {
			continue
		}
		c.Requests += s.Value
		if s.ConnectionSecurityPolicy == MutualTLS {
			c.MutualTLS += s.Value
		} else {
			c.Plaintext += s.Value
		}
		if !is2xx(s.ResponseCode) {
			c.Failed += s.Value
		}
		call := s.Source().String() + " → " + s.Destination().String()
		if i := sort.SearchStrings(c.Calls, call); i == len(c.Calls) || c.Calls[i] != call {
			c.Calls = append(c.Calls, call)
			sort.Strings(c.Calls)
		}
	}
	return out
}

func is2xx(code string) bool { return len(code) == 3 && code[0] == '2' }
