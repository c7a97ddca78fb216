package helmrelease_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ociregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canarygate/canarygate/helmrelease"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// chartRepo packages charts into a directory, indexes it and serves it over HTTP on loopback, as a Helm
// chart repository is served.
func chartRepo(t *testing.T, charts ...*chart.Chart) string {
	t.Helper()
	dir := t.TempDir()
	for _, ch := range charts {
		_, err := chartutil.Save(ch, dir)
		require.NoError(t, err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	idx, err := repo.IndexDirectory(dir, srv.URL)
	require.NoError(t, err)
	require.NoError(t, idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644))
	return srv.URL
}

func demoChart(name, version, configMapTemplate string) *chart.Chart {
	return &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: version, AppVersion: version},
		Values:    map[string]any{"greeting": "hello", "replicas": 1},
		Templates: []*chart.File{{Name: "templates/configmap.yaml", Data: []byte(configMapTemplate)}},
	}
}

const goodTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  chartVersion: {{ .Chart.Version | quote }}
`

func TestInstallUpgradeUninstallFromAnHTTPChartRepo(t *testing.T) {
	e := testenv.Need(t, env)
	testenv.HelmHome(t)
	ctx := context.Background()
	url := chartRepo(t, demoChart("demo", "1.0.0", goodTemplate), demoChart("demo", "1.1.0", goodTemplate))
	ns := "helm-" + fmt.Sprint(os.Getpid())
	t.Cleanup(func() { _ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	values := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(values, []byte("greeting: from-file\nreplicas: 3\n"), 0o644))
	res := e.RunStep(ctx, t, fmt.Sprintf(`name: install
helmInstall:
  release: demo
  namespace: %s
  createNamespace: true
  repo: %s
  chart: demo
  version: 1.0.0
  valuesFiles: [%s]
  timeout: 1m`, ns, url, values))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	cm, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "demo-settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"greeting": "from-file", "chartVersion": "1.0.0"}, cm.Data)
	assert.Contains(t, res.Changes, fmt.Sprintf("helm release %s/demo: installed demo 1.0.0 (revision 1, deployed)", ns))

	res = e.RunStep(ctx, t, fmt.Sprintf(`name: upgrade
helmUpgrade:
  release: demo
  namespace: %s
  repo: %s
  chart: demo
  version: 1.1.0
  valuesFiles: [%s]
  values: {greeting: inline-wins}`, ns, url, values))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	cm, err = e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "demo-settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"greeting": "inline-wins", "chartVersion": "1.1.0"}, cm.Data)
	assert.Contains(t, res.Changes, fmt.Sprintf("helm release %s/demo: upgraded 1.0.0 revision 1 → 1.1.0 revision 2 (deployed)", ns))

	res = e.RunStep(ctx, t, fmt.Sprintf("name: uninstall\nhelmUninstall: {release: demo, namespace: %s, wait: true}", ns))
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	_, err = e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "demo-settings", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the release's objects are gone: %v", err)
	cfg, err := helmrelease.Configuration(e.Cluster(t), ns, t.Logf)
	require.NoError(t, err)
	_, err = action.NewGet(cfg).Run("demo")
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound)

	again := e.RunStep(ctx, t, fmt.Sprintf("name: uninstall-again\nhelmUninstall: {release: demo, namespace: %s, ignoreNotFound: true}", ns))
	assert.Equal(t, summary.OutcomePassed, again.Outcome, "%v", again.Err)
}

func TestAtomicInstallThatTheServerRejectsIsRolledBack(t *testing.T) {
	e := testenv.Need(t, env)
	testenv.HelmHome(t)
	ctx := context.Background()
	ns := e.Namespace(t, "helm-bad")
	// Two objects: the first is fine and gets created, the second has a name the API server refuses.
	bad := goodTemplate + `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: Not_A_Valid_Name
data: {}
`
	url := chartRepo(t, demoChart("broken", "0.1.0", bad))
	res := e.RunStep(ctx, t, fmt.Sprintf(`name: install-broken
helmInstall: {release: broken, namespace: %s, repo: %s, chart: broken, atomic: true, timeout: 30s}`, ns, url))
	require.Equal(t, summary.OutcomeFailed, res.Outcome)
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "rolled back")
	assert.Contains(t, res.Err.Error(), "Not_A_Valid_Name", "the server's message names the object")
	assert.Contains(t, res.Err.Error(), "Invalid value", "the server's own words")

	_, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "broken-settings", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "what the failed install created was removed: %v", err)
	cfg, err := helmrelease.Configuration(e.Cluster(t), ns, t.Logf)
	require.NoError(t, err)
	_, err = action.NewGet(cfg).Run("broken")
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound, "no release is left behind")
}

// A chart from an oci:// registry: a real OCI registry (go-containerregistry's, in memory) on loopback, the
// chart pushed with Helm's own registry client, installed by reference over plain HTTP.
func TestInstallFromAnOCIRegistry(t *testing.T) {
	e := testenv.Need(t, env)
	testenv.HelmHome(t)
	ctx := context.Background()
	reg := httptest.NewServer(ociregistry.New(ociregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	dir := t.TempDir()
	archive, err := chartutil.Save(demoChart("ocidemo", "2.0.0", goodTemplate), dir)
	require.NoError(t, err)
	data, err := os.ReadFile(archive)
	require.NoError(t, err)
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP())
	require.NoError(t, err)
	_, err = rc.Push(data, host+"/charts/ocidemo:2.0.0")
	require.NoError(t, err)

	ns := "helm-oci-" + fmt.Sprint(os.Getpid())
	t.Cleanup(func() { _ = e.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	step := fmt.Sprintf("name: install\nhelmInstall: {release: ocidemo, namespace: %s, createNamespace: true, chart: \"oci://%s/charts/ocidemo\", version: 2.0.0, plainHTTP: true, timeout: 1m}", ns, host)
	res := e.RunStep(ctx, t, step)
	require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
	cm, err := e.Client.CoreV1().ConfigMaps(ns).Get(ctx, "ocidemo-settings", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", cm.Data["chartVersion"])

	missing := fmt.Sprintf("name: install-missing\nhelmInstall: {release: nope, namespace: %s, chart: \"oci://%s/charts/nope\", version: 1.0.0, plainHTTP: true, timeout: 1m}", ns, host)
	res = e.RunStep(ctx, t, missing)
	assert.Equal(t, summary.OutcomeFailed, res.Outcome, "a chart the registry does not have")
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "charts/nope")
}

// Each Helm action fails, naming what it could not do — next to the test above where each passes.
func TestHelmActionsFailForTheRightReason(t *testing.T) {
	e := testenv.Need(t, env)
	testenv.HelmHome(t)
	ctx := context.Background()
	url := chartRepo(t, demoChart("demo", "1.0.0", goodTemplate))
	ns := e.Namespace(t, "helm-fail")
	for _, c := range []struct {
		step string
		want string
	}{
		{fmt.Sprintf("name: upgrade-missing\nhelmUpgrade: {release: never-installed, namespace: %s, repo: %s, chart: demo, version: 1.0.0, timeout: 1m}", ns, url),
			"never-installed"},
		{fmt.Sprintf("name: install-unknown-version\nhelmInstall: {release: demo, namespace: %s, repo: %s, chart: demo, version: 9.9.9, timeout: 1m}", ns, url),
			"9.9.9"},
		{fmt.Sprintf("name: uninstall-missing\nhelmUninstall: {release: never-installed, namespace: %s}", ns),
			"never-installed"},
	} {
		res := e.RunStep(ctx, t, c.step)
		name := strings.SplitN(c.step, "\n", 2)[0]
		assert.Equal(t, summary.OutcomeFailed, res.Outcome, "%s: %v", name, res.Err)
		if assert.Error(t, res.Err, name) {
			assert.Contains(t, res.Err.Error(), c.want, name)
		}
	}
}
