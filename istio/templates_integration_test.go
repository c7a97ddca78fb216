package istio_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/canarygate/canarygate/internal/testenv"
)

// injectionTemplates renders a real istiod chart as the lab installs it (revision, hub, tag) and returns the
// injection templates its injector ConfigMap hands istiod — what istiod executes for every pod it injects.
func injectionTemplates(t *testing.T, charts, rev, tag string) map[string]string {
	t.Helper()
	ch, err := loader.Load(filepath.Join(charts, "istio-control", "istio-discovery"))
	require.NoError(t, err)
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "istiod-"+rev, "istio-system"
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}
	rel, err := install.Run(ch, map[string]any{"revision": rev,
		"global": map[string]any{"hub": "canarygate.local/istio", "tag": tag}})
	require.NoError(t, err)
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		var cm corev1.ConfigMap
		if yaml.Unmarshal([]byte(doc), &cm) != nil || cm.Kind != "ConfigMap" || cm.Name != "istio-sidecar-injector-"+rev {
			continue
		}
		var config struct {
			Templates map[string]string `json:"templates"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(cm.Data["config"]), &config))
		require.NotEmpty(t, config.Templates)
		return config.Templates
	}
	t.Fatalf("chart %s renders no ConfigMap istio-sidecar-injector-%s", charts, rev)
	return nil
}

// lineDiff lists the lines only in a ("- ") and only in b ("+ "), in order: enough to show what changed.
func lineDiff(a, b string) []string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[strings.TrimRight(l, " ")]++
		}
		return m
	}
	ca, cb := count(a), count(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if l = strings.TrimRight(l, " "); cb[l] == 0 {
			out = append(out, "- "+strings.TrimSpace(l))
		} else {
			cb[l]--
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if l = strings.TrimRight(l, " "); ca[l] == 0 {
			out = append(out, "+ "+strings.TrimSpace(l))
		} else {
			ca[l]--
		}
	}
	return out
}

// What injection can change between the lab's two revisions is decided by the templates each module's
// istiod chart hands its istiod. Rendered from the real charts of both modules: the grpc-agent template the
// lab injects is the same text in both (so the lab's injection diff — asserted in test/e2e from real pods —
// shows only the revision and the proxy image), while the Envoy sidecar template a registry-backed rehearsal
// would inject changed: the init container's image comes from ProxyInitImage instead of ProxyImage, the
// canonical name is trimmed differently and a FIPS GODEBUG appears. The diff is logged for the record.
func TestTheTwoLabModulesInjectionTemplates(t *testing.T) {
	oldT := injectionTemplates(t, testenv.IstioOldCharts(t), "old", "20260423-b01690e6db7d")
	newT := injectionTemplates(t, testenv.IstioCharts(t), "new", "20260827-eed52ebb66ad")
	for _, name := range []string{"grpc-agent", "sidecar"} {
		require.Contains(t, oldT, name)
		require.Contains(t, newT, name)
	}
	assert.Empty(t, lineDiff(oldT["grpc-agent"], newT["grpc-agent"]), "the lab's proxyless template")
	sidecar := lineDiff(oldT["sidecar"], newT["sidecar"])
	t.Logf("sidecar template, OLD → NEW:\n%s", strings.Join(sidecar, "\n"))
	assert.Contains(t, sidecar, `- image: "{{ .ProxyImage }}"`)
	assert.Contains(t, sidecar, `+ image: "{{ .ProxyInitImage }}"`)
	assert.Contains(t, sidecar, `+ value: "fips140=only"`)
	for _, name := range []string{"grpc-simple", "gateway"} {
		if d := lineDiff(oldT[name], newT[name]); len(d) > 0 {
			t.Logf("%s template, OLD → NEW:\n%s", name, strings.Join(d, "\n"))
		}
	}
}
