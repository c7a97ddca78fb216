package istio

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Connection is one xDS client connected to an istiod, as its /debug/connections lists it.
type Connection struct {
	// ID is istiod's connection ID: the proxy ID and a counter, POD.NAMESPACE-N.
	ID string
	// Proxy is the proxy ID, POD.NAMESPACE: the same name `istioctl proxy-status` shows.
	Proxy       string
	ConnectedAt time.Time
	Address     string
}

// Connections is what an istiod says is connected to it now.
type Connections struct {
	Total   int
	Clients []Connection
}

// ParseConnections reads istiod's /debug/connections (AdsClients in pilot/pkg/xds/debug.go; testdata/README.md
// says where the layout comes from). A client whose connection ID is not a node ID is kept with no Proxy.
func ParseConnections(r io.Reader) (Connections, error) {
	var raw struct {
		Total   *int `json:"totalClients"`
		Clients []struct {
			ConnectionID string    `json:"connectionId"`
			ConnectedAt  time.Time `json:"connectedAt"`
			Address      string    `json:"address"`
		} `json:"clients"`
	}
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&raw); err != nil {
		return Connections{}, fmt.Errorf("istiod /debug/connections: %w", err)
	}
	if raw.Total == nil {
		// An answer without the field is not istiod's connection list (a login page, another server).
		return Connections{}, fmt.Errorf("istiod /debug/connections: no totalClients in the answer")
	}
	out := Connections{Total: *raw.Total}
	for _, c := range raw.Clients {
		out.Clients = append(out.Clients, Connection{ID: c.ConnectionID, Proxy: ParseConnectionID(c.ConnectionID), ConnectedAt: c.ConnectedAt, Address: c.Address})
	}
	return out, nil
}

// ParseConnectionID returns the proxy ID (POD.NAMESPACE) of istiod's connection ID, or "" when id is not of
// that form. istiod names a connection after the proxy ID and a counter — `con.SetID(connectionID(proxy.ID))`
// and `connectionID(node) = node + "-" + counter` in pilot/pkg/xds/ads.go — where proxy.ID is the third part
// of the node ID (`out.ID = parts[2]` in ParseServiceNodeWithMetadata, pilot/pkg/model/context.go): so
// "probe-server-64cf7c9b58-7bzf8.probe-b-3", never the whole node ID "sidecar~IP~POD.NS~DOMAIN". Pod names
// hold dashes too; the counter is what follows the last one.
func ParseConnectionID(id string) string {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return ""
	}
	for _, r := range id[i+1:] {
		if r < '0' || r > '9' {
			return ""
		}
	}
	proxy := id[:i]
	pod, ns, ok := strings.Cut(proxy, ".")
	if !ok || pod == "" || ns == "" || strings.ContainsAny(proxy, "~/ ") {
		return ""
	}
	return proxy
}

// ProxyID is the proxy ID pilot-agent gives the sidecar of a pod: POD.NAMESPACE.
func ProxyID(namespace, pod string) string { return pod + "." + namespace }
