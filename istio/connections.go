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
	// ID is istiod's connection ID: the proxy's node ID and a counter.
	ID string
	// Type is the node type: sidecar, router (a gateway), …
	Type string
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
		typ, proxy := ParseConnectionID(c.ConnectionID)
		out.Clients = append(out.Clients, Connection{ID: c.ConnectionID, Type: typ, Proxy: proxy, ConnectedAt: c.ConnectedAt, Address: c.Address})
	}
	return out, nil
}

// ParseConnectionID splits istiod's connection ID (TYPE~IP~POD.NAMESPACE~DOMAIN-N) into the node type and
// the proxy ID; both are "" when id is not of that form.
func ParseConnectionID(id string) (typ, proxy string) {
	parts := strings.Split(id, "~")
	if len(parts) != 4 || parts[0] == "" || parts[2] == "" {
		return "", ""
	}
	return parts[0], parts[2]
}

// ProxyID is the proxy ID pilot-agent gives the sidecar of a pod: POD.NAMESPACE.
func ProxyID(namespace, pod string) string { return pod + "." + namespace }
