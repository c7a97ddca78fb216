package istio

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func pod(t *testing.T, name string) corev1.Pod {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	var p corev1.Pod
	require.NoError(t, yaml.Unmarshal(data, &p))
	return p
}

// revisions: app-a moved to 1-30, app-b still on 1-29, the 1-30 ingress gateway.
func revisions(w Workload) (string, bool) {
	rev, ok := map[Workload]string{
		{"demo-a", "app-a"}: "1-30", {"demo-b", "app-b"}: "1-29", {"istio-ingress", "istio-ingress-1-30"}: "1-30", {"demo-c", "app-c"}: "1-29",
	}[w]
	return rev, ok
}

func TestMutualTLSBetweenRevisionsIsProvenFromDestinationMetrics(t *testing.T) {
	t.Parallel()
	samples, err := ParseMetrics(open(t, "app-b-stats-prometheus.txt"))
	require.NoError(t, err)
	require.Len(t, samples, 3)
	m := Matrix(samples, revisions)
	cell := m[Pair{"1-30", "1-29"}]
	require.NotNil(t, cell, "calls from the new revision to the old one were seen")
	assert.EqualValues(t, 1820, cell.Requests, "app-a and the gateway, both 1-30, called app-b on 1-29")
	assert.EqualValues(t, 1820, cell.MutualTLS)
	assert.True(t, cell.OK())
	assert.Equal(t, []string{"demo-a/app-a → demo-b/app-b", "istio-ingress/istio-ingress-1-30 → demo-b/app-b"}, cell.Calls)
	sourceOnly := m[Pair{"1-29", "1-29"}]
	require.NotNil(t, sourceOnly, "app-b's own calls to app-c, reported by app-b as the source")
	assert.EqualValues(t, 42, sourceOnly.SourceRequests)
	assert.Zero(t, sourceOnly.Requests, "the source knows nothing of mTLS: only the destination's count proves it")
	assert.False(t, sourceOnly.OK(), "calls no destination recorded prove nothing")
}

func TestPlaintextAndFailedCallsAreCaught(t *testing.T) {
	t.Parallel()
	samples, err := ParseMetrics(open(t, "app-c-plaintext-stats-prometheus.txt"))
	require.NoError(t, err)
	cell := Matrix(samples, revisions)[Pair{"1-29", "1-29"}]
	require.NotNil(t, cell)
	assert.EqualValues(t, 40, cell.Plaintext)
	assert.EqualValues(t, 2, cell.Failed)
	assert.False(t, cell.OK())
	assert.False(t, Cell{}.OK(), "no calls at all prove nothing")
}

func TestXFCCNamesTheCaller(t *testing.T) {
	t.Parallel()
	// Envoy's documented form (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert),
	// as an Istio sidecar sets it: By is the destination's identity, URI the caller's.
	h := `By=spiffe://cluster.local/ns/demo-b/sa/app-b;Hash=2a2c5bd1bd1a3e4f0c2ab1b2f0e8a5c7d9b3e1f4a6c8d0e2f4a6b8c0d2e4f6a8;Subject="";URI=spiffe://cluster.local/ns/demo-a/sa/app-a`
	id, err := CallerIdentity(h)
	require.NoError(t, err)
	assert.Equal(t, Identity{TrustDomain: "cluster.local", Namespace: "demo-a", ServiceAccount: "app-a"}, id)

	two := `By=spiffe://cluster.local/ns/demo-a/sa/app-a;URI=spiffe://cluster.local/ns/istio-ingress/sa/istio-ingress,By=spiffe://cluster.local/ns/demo-b/sa/app-b;Subject="CN=x,O=y;z";URI=spiffe://cluster.local/ns/demo-a/sa/app-a`
	els, err := ParseXFCC(two)
	require.NoError(t, err)
	require.Len(t, els, 2)
	assert.Equal(t, "CN=x,O=y;z", els[1].Subject, "quoted values keep their commas and semicolons")
	id, err = CallerIdentity(two)
	require.NoError(t, err)
	assert.Equal(t, "demo-a", id.Namespace, "the last hop's client")

	_, err = CallerIdentity("")
	assert.ErrorContains(t, err, "not mutual TLS")
	_, err = ParseSPIFFE("spiffe://cluster.local/workload/x")
	assert.Error(t, err)
}

func TestSidecarRevisionAndControlPlaneFromThePod(t *testing.T) {
	t.Parallel()
	newPod := pod(t, "pod-injected-1-30.yaml")
	px, err := ProxyOf(&newPod)
	require.NoError(t, err)
	assert.Equal(t, Proxy{Pod: newPod.Name, Namespace: "demo-a", Injected: true, Revision: "1-30", Image: "docker.io/istio/proxyv2:1.30.3", Tag: "1.30.3",
		DiscoveryAddress: "istiod-1-30.istio-system.svc:15012"}, px, "a native sidecar (init container) is found too")

	oldPod := pod(t, "pod-injected-1-29.yaml")
	bad, err := Misplaced([]corev1.Pod{newPod, oldPod}, "1-30")
	require.NoError(t, err)
	assert.Equal(t, []string{"demo-a/app-a-5b8f7c6d4-q9w8e runs the proxy of revision 1-29 (image docker.io/istio/proxyv2:1.29.6), not 1-30"}, bad)

	plain := corev1.Pod{}
	plain.Name, plain.Namespace = "plain", "demo-a"
	bad, err = Misplaced([]corev1.Pod{plain}, "1-30")
	require.NoError(t, err)
	assert.Equal(t, []string{"demo-a/plain has no sidecar"}, bad)

	broken := newPod
	broken.Annotations = map[string]string{SidecarStatusAnnotation: "{not json"}
	_, err = ProxyOf(&broken)
	assert.ErrorContains(t, err, "not valid JSON")
}

// The revision is right, the proxy is not: the wanted image or version names the pods that differ, and only
// those.
func TestWrongProxyImageOrVersionUnderTheRightRevision(t *testing.T) {
	t.Parallel()
	newPod := pod(t, "pod-injected-1-30.yaml") // docker.io/istio/proxyv2:1.30.3
	pinned := newPod
	pinned.Name = "pinned"
	pinned.Spec.InitContainers = append([]corev1.Container(nil), newPod.Spec.InitContainers...)
	for i := range pinned.Spec.InitContainers {
		if pinned.Spec.InitContainers[i].Name == ProxyContainer {
			pinned.Spec.InitContainers[i].Image = "docker.io/istio/proxyv2:1.29.6" // sidecar.istio.io/proxyImage
		}
	}
	pods := []corev1.Pod{newPod, pinned}
	bad, err := Misplaced(pods, "1-30")
	require.NoError(t, err)
	assert.Empty(t, bad, "both are of revision 1-30")

	for _, c := range []struct {
		want ProxyWant
		bad  []string
	}{
		{ProxyWant{Image: "docker.io/istio/proxyv2:1.30.3"}, []string{"demo-a/pinned runs proxy image docker.io/istio/proxyv2:1.29.6, not docker.io/istio/proxyv2:1.30.3"}},
		{ProxyWant{Version: "1.30.3"}, []string{`demo-a/pinned runs proxy version "1.29.6" (image docker.io/istio/proxyv2:1.29.6), not 1.30.3`}},
		{ProxyWant{Version: "1.30"}, []string{`demo-a/pinned runs proxy version "1.29.6" (image docker.io/istio/proxyv2:1.29.6), not 1.30`}},
		{ProxyWant{Version: "1.29.6"}, []string{`demo-a/app-a-6d9c7b9f5-x2k4q runs proxy version "1.30.3" (image docker.io/istio/proxyv2:1.30.3), not 1.29.6`}},
		{ProxyWant{Version: "1.3"}, []string{`demo-a/app-a-6d9c7b9f5-x2k4q runs proxy version "1.30.3" (image docker.io/istio/proxyv2:1.30.3), not 1.3`,
			`demo-a/pinned runs proxy version "1.29.6" (image docker.io/istio/proxyv2:1.29.6), not 1.3`}},
	} {
		bad, err := WrongProxy(pods, c.want)
		require.NoError(t, err)
		assert.Equal(t, c.bad, bad, c.want.String())
	}
	assert.True(t, versionMatches("1.30.3-distroless", "1.30.3"), "a variant of the version")
	assert.True(t, versionMatches("1.30.3", "1.30"), "a release of the minor")
	assert.False(t, versionMatches("1.30.30", "1.30.3"))
}

func TestAnAttachedProxyBlocksUninstall(t *testing.T) {
	t.Parallel()
	oldPod, newPod := pod(t, "pod-injected-1-29.yaml"), pod(t, "pod-injected-1-30.yaml")
	attached, err := Attached([]corev1.Pod{oldPod, newPod}, "1-29")
	require.NoError(t, err)
	assert.Equal(t, []string{"demo-a/app-a-5b8f7c6d4-q9w8e"}, attached)
	attached, err = Attached([]corev1.Pod{newPod}, "1-29")
	require.NoError(t, err)
	assert.Empty(t, attached, "drained")

	n, ok, err := Gauge(open(t, "istiod-monitoring.txt"), "pilot_xds", nil)
	require.NoError(t, err)
	require.True(t, ok)
	assert.EqualValues(t, 4, n, "istiod reports its connected proxies")
	n, _, err = Gauge(open(t, "istiod-monitoring.txt"), "pilot_xds", map[string]string{"version": "1.29.6"})
	require.NoError(t, err)
	assert.EqualValues(t, 3, n)
	assert.Equal(t, "1-29", RevisionOfAddress("istiod-1-29.istio-system.svc:15012"))
	assert.Equal(t, "default", RevisionOfAddress("istiod.istio-system.svc:15012"))
}

// pilot-agent's merged output (agent + Envoy + app) breaks a strict parse of the whole body; the families
// canarygate reads still parse.
func TestMergedAgentEnvoyAppExpositionParsesTheFamiliesRead(t *testing.T) {
	t.Parallel()
	strict := expfmt.NewTextParser(model.UTF8Validation)
	_, err := strict.TextToMetricFamilies(open(t, "merged-agent-envoy-app.txt"))
	require.Error(t, err, "the layout this test is about: a strict parse of the whole body fails")

	samples, err := ParseMetrics(open(t, "merged-agent-envoy-app.txt"))
	require.NoError(t, err)
	require.Len(t, samples, 2)
	assert.Equal(t, "200", samples[0].ResponseCode)
	assert.Equal(t, 640.0, samples[0].Value)
	assert.Equal(t, "503", samples[1].ResponseCode)

	n, ok, err := Gauge(open(t, "merged-agent-envoy-app.txt"), "istio_build", nil)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 2.0, n, "both parts' series, under one TYPE")

	_, ok, err = Gauge(open(t, "merged-agent-envoy-app.txt"), "pilot_xds", nil)
	require.NoError(t, err)
	assert.False(t, ok, "absent family: not found, not an error")
}

func TestABrokenLineOfAFamilyThatIsReadIsStillAnError(t *testing.T) {
	t.Parallel()
	_, err := ParseMetrics(strings.NewReader("# TYPE istio_requests_total counter\nistio_requests_total{reporter=\"destination\" 12\n"))
	require.Error(t, err, "what canarygate reads is parsed strictly")
}

// Operator installs name a revision <control plane>.<namespace> while istiod's Service is
// istiod-<control plane>: such a pod is on its revision, and blocks that revision's removal.
func TestOperatorRevisionNamesMatchTheirIstiod(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/pod-injected-1-30.yaml")
	require.NoError(t, err)
	text := strings.ReplaceAll(string(data), `"revision":"1-30"`, `"revision":"cp-v130x.istio-system"`)
	text = strings.ReplaceAll(text, "istiod-1-30.istio-system.svc", "istiod-cp-v130x.istio-system.svc")
	var p corev1.Pod
	require.NoError(t, yaml.Unmarshal([]byte(text), &p))

	bad, err := Misplaced([]corev1.Pod{p}, "cp-v130x.istio-system")
	require.NoError(t, err)
	assert.Empty(t, bad)
	attached, err := Attached([]corev1.Pod{p}, "cp-v130x.istio-system")
	require.NoError(t, err)
	assert.Equal(t, []string{"demo-a/" + p.Name}, attached)

	bad, err = Misplaced([]corev1.Pod{p}, "cp-v129x.istio-system")
	require.NoError(t, err)
	assert.Len(t, bad, 1, "another control plane's revision")
}
