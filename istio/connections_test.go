package istio

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConnectionsReadsIstiodsDebugConnections(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/istiod-debug-connections.json")
	require.NoError(t, err)
	defer f.Close()
	got, err := ParseConnections(f)
	require.NoError(t, err)
	assert.Equal(t, 4, got.Total)
	require.Len(t, got.Clients, 4)
	var proxies []string
	for _, c := range got.Clients {
		proxies = append(proxies, c.Proxy)
	}
	// Real output of the lab's istiod: each proxy as POD.NAMESPACE, what ProxyID gives for the pod.
	assert.Equal(t, []string{
		ProxyID("demo-a", "app-a-6b9c7c89f8-h7pkk"),
		ProxyID("demo-a", "app-a-6b9c7c89f8-pnxgp"),
		ProxyID("demo-b", "app-b-6d48dd75c5-77vzm"),
		ProxyID("demo-b", "app-b-6d48dd75c5-96w7c"),
	}, proxies)
	assert.Equal(t, time.Date(2026, 12, 6, 2, 42, 20, 660866676, time.UTC), got.Clients[0].ConnectedAt)
	assert.Equal(t, "10.244.0.15:58154", got.Clients[0].Address)
}

func TestParseConnectionsRefusesWhatIsNotIstiodsList(t *testing.T) {
	t.Parallel()
	got, err := ParseConnections(strings.NewReader(`{"totalClients": 0}`))
	require.NoError(t, err, "an istiod nobody is connected to")
	assert.Zero(t, got.Total)
	assert.Empty(t, got.Clients)

	_, err = ParseConnections(strings.NewReader(`{"status": "ok"}`))
	require.ErrorContains(t, err, "no totalClients")
	_, err = ParseConnections(strings.NewReader(`<html>401</html>`))
	require.Error(t, err)

}

// istiod's connection IDs are POD.NAMESPACE-N (pilot/pkg/xds/ads.go): the proxy ID is everything before the
// counter, dashes of the pod name included; what is not of that form is no proxy.
func TestParseConnectionIDAsIstiodWritesThem(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"probe-server-64cf7c9b58-7bzf8.probe-b-3":  "probe-server-64cf7c9b58-7bzf8.probe-b",
		"app-a-7c9d8f6b5-x2k4q.demo-a-41":          "app-a-7c9d8f6b5-x2k4q.demo-a",
		"istio-ingress-1-30-5f6c.istio-ingress-7":  "istio-ingress-1-30-5f6c.istio-ingress",
		"sidecar~10.244.0.12~app.demo-a~demo-a-41": "", // a whole node ID is not what istiod lists
		"no-namespace-3":                           "",
		"app.demo-a":                               "",
		"app.demo-a-":                              "",
		"app.demo-a-x1":                            "",
		"":                                         "",
	} {
		assert.Equal(t, want, ParseConnectionID(id), id)
	}
}
