package istio

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The parsers of what istiod and the pods return read untrusted input: whatever the bytes, they return a
// value or an error, never panic, and what they return holds its own invariants.
// Run one with: go test ./istio -run '^$' -fuzz FuzzParseConnections -fuzztime 30s (make fuzz runs them all).

func seed(f *testing.F, files ...string) {
	for _, name := range files {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseConnections(f *testing.F) {
	seed(f, "istiod-debug-connections.json")
	f.Add([]byte(`{"totalClients": 1, "clients": [{"connectionId": "a-b.c-1"}]}`))
	f.Add([]byte(`{"totalClients": -3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseConnections(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, c := range got.Clients {
			if c.Proxy != "" && !strings.HasPrefix(c.ID, c.Proxy+"-") {
				t.Fatalf("proxy %q is not the start of its connection ID %q", c.Proxy, c.ID)
			}
		}
	})
}

func FuzzParseMetrics(f *testing.F) {
	seed(f, "app-b-stats-prometheus.txt", "app-c-plaintext-stats-prometheus.txt", "merged-agent-envoy-app.txt", "istiod-monitoring.txt")
	f.Add([]byte("istio_requests_total{response_code=\"200\"} 1e400\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		samples, err := ParseMetrics(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A counter diffed with itself is zero: no panic, no negative count.
		if _, err := Diff(samples, samples); err != nil {
			t.Fatalf("a series diffed with itself: %v", err)
		}
	})
}

func FuzzParseXFCC(f *testing.F) {
	f.Add(`By=spiffe://cluster.local/ns/demo-b/sa/app-b;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/demo-a/sa/app-a`)
	f.Add(`URI="spiffe://cluster.local/ns/a/sa/b,c";DNS=x`)
	f.Add(`,,;;==""`)
	f.Fuzz(func(t *testing.T, h string) {
		els, err := ParseXFCC(h)
		if err != nil {
			return
		}
		id, err := CallerIdentity(h)
		if err == nil && (len(els) == 0 || id.Namespace == "" || id.ServiceAccount == "") {
			t.Fatalf("an identity from %q without its parts: %+v", h, id)
		}
	})
}

func FuzzParseConnectionID(f *testing.F) {
	f.Add("probe-server-64cf7c9b58-7bzf8.probe-b-3")
	f.Add("sidecar~10.0.0.1~a.b~b.svc-1")
	f.Fuzz(func(t *testing.T, id string) {
		if p := ParseConnectionID(id); p != "" && (!strings.HasPrefix(id, p+"-") || !strings.Contains(p, ".")) {
			t.Fatalf("%q parsed to %q", id, p)
		}
	})
}
