package builtin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	_ "github.com/canarygate/canarygate/builtin"
	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/promgate"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// What the parser accepts and what a run carries out come from the same registrations: every action kind
// has its executor, every gate its evaluator, every provider its implementation, every report format its
// writer — none registered with the parser alone.
func TestTheParserAcceptsExactlyWhatRunsCarryOut(t *testing.T) {
	assert.Equal(t, scenarios.ActionKinds(), runner.Kinds())
	assert.Equal(t, scenarios.GateKinds(), checks.Kinds())
	assert.Equal(t, scenarios.ProviderNames(), cluster.ProviderNames())
	assert.ElementsMatch(t, scenarios.AllFormats, slices.Collect(maps.Keys(report.Formats())))
	assert.NotEmpty(t, runner.Kinds())
}

// notAStub is one action kind run for real: a minimal step that the real executor must fail, for the reason
// given — so an executor that returns nil (a stub), or fails for any other reason, fails this test. The
// passing runs of each action are in its own package's tests.
type notAStub struct {
	step string
	// want is in the step's error: the executor did the work and met what was set up to fail it.
	want string
	// readers stand in for what would leave the machine (a kwok pod's address).
	readers runner.Readers
}

// Every registered action kind runs on the real API server (or loopback) against a minimal spec set up to
// fail, and fails for that reason. A kind added without a case here fails the test.
func TestEveryRegisteredActionDoesRealWork(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "conformance")
	answer500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer answer500.Close()
	const missingNS = "conformance-no-such-namespace"
	missingChart := t.TempDir() + "/no-chart"
	cases := map[string]notAStub{
		scenarios.ActionRun:   {step: "name: s\nrun: {command: sh, args: [-c, 'exit 7']}", want: "sh exited with status 7"},
		scenarios.ActionHTTP:  {step: fmt.Sprintf("name: s\nhttp: {url: %q, expect: [200]}", answer500.URL+"/"), want: "answered 500 Internal Server Error, expected [200]"},
		scenarios.ActionCheck: {step: "name: s\ncheck: {noUnexpectedStatus: {}}", want: "no measurements available to check"},
		// A soak cannot fail: it is judged by how long it held (below).
		scenarios.ActionSoak:              {step: "name: s\nsoak: {duration: 300ms}", want: ""},
		scenarios.ActionApply:             {step: fmt.Sprintf(`name: s`+"\n"+`apply: {manifest: '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "%s"}}'}`, missingNS), want: `namespaces "` + missingNS + `" not found`},
		scenarios.ActionDelete:            {step: fmt.Sprintf("name: s\ndelete: {objects: [{apiVersion: v1, kind: ConfigMap, name: none, namespace: %s}]}", ns), want: `configmaps "none" not found`},
		scenarios.ActionLabelNamespace:    {step: fmt.Sprintf("name: s\nlabelNamespace: {namespaces: [%s], set: {a: b}}", missingNS), want: `namespaces "` + missingNS + `" not found`},
		scenarios.ActionAnnotate:          {step: fmt.Sprintf("name: s\nannotate: {apiVersion: v1, kind: ConfigMap, name: none, namespace: %s, set: {a: b}}", ns), want: `configmaps "none" not found`},
		scenarios.ActionRestart:           {step: fmt.Sprintf("name: s\nrestart: {namespace: %s, deployments: [none]}", ns), want: `deployments.apps "none" not found`},
		scenarios.ActionWaitFor:           {step: fmt.Sprintf("name: s\ntimeout: 2s\nwaitFor: {apiVersion: v1, kind: ConfigMap, name: none, namespace: %s, condition: exists}", ns), want: "timed out"},
		scenarios.ActionScale:             {step: fmt.Sprintf("name: s\nscale: {namespace: %s, deployment: none, replicas: 2}", ns), want: `deployments.apps "none" not found`},
		scenarios.ActionPatch:             {step: fmt.Sprintf("name: s\npatch: {apiVersion: v1, kind: ConfigMap, name: none, namespace: %s, type: merge, patch: '{\"data\":{\"a\":\"b\"}}'}", ns), want: `configmaps "none" not found`},
		scenarios.ActionHelmInstall:       {step: fmt.Sprintf("name: s\nhelmInstall: {release: r, namespace: %s, chart: %s}", ns, missingChart), want: "no-chart"},
		scenarios.ActionHelmUpgrade:       {step: fmt.Sprintf("name: s\nhelmUpgrade: {release: r, namespace: %s, chart: %s}", ns, missingChart), want: "no such release"},
		scenarios.ActionHelmUninstall:     {step: fmt.Sprintf("name: s\nhelmUninstall: {release: none, namespace: %s}", ns), want: "not found"},
		scenarios.ActionInstallRevision:   {step: fmt.Sprintf("name: s\ninstallRevision: {revision: \"9-01\", namespace: %s, chart: %s}", ns, missingChart), want: "no-chart"},
		scenarios.ActionMigrateGateway:    {step: fmt.Sprintf("name: s\nmigrateGateway: {from: \"9-01\", to: \"9-02\", namespace: %s, chart: %s}", ns, missingChart), want: "no-chart"},
		scenarios.ActionMoveNamespace:     {step: fmt.Sprintf("name: s\nmoveNamespace: {namespaces: [%s], revision: \"9-02\"}", missingNS), want: `namespaces "` + missingNS + `" not found`},
		scenarios.ActionRollback:          {step: fmt.Sprintf("name: s\nrollback: {namespaces: [%s], to: \"9-01\"}", missingNS), want: `namespaces "` + missingNS + `" not found`},
		scenarios.ActionSetTag:            {step: "name: s\nsetTag: {tag: conformance, revision: \"9-77\"}", want: "9-77"},
		scenarios.ActionRemoveTag:         {step: "name: s\nremoveTag: {tag: conformance-none}", want: "conformance-none"},
		scenarios.ActionProxyRevision:     {step: fmt.Sprintf("name: s\nproxyRevision: {namespaces: [%s], revision: \"9-02\", podsOnly: true}", ns), want: ns + "/on-9-01 runs the proxy of revision 9-01"},
		scenarios.ActionUninstallRevision: {step: fmt.Sprintf("name: s\nuninstallRevision: {revision: \"9-01\", namespace: %s}", ns), want: ns + "/on-9-01"},
		// The pod's proxy answers with no request counted: no cross-revision call in the window.
		scenarios.ActionCrossRevisionMTLS: {step: fmt.Sprintf("name: s\ncrossRevisionMTLS: {namespaces: [%s], window: 1s, settle: 1s}", ns), want: "not proven",
			readers: runner.Readers{ProxyMetrics: func(context.Context, *cluster.Cluster, *corev1.Pod) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("# no istio_requests_total yet\n")), nil
			}}},
		scenarios.ActionGatewaysServe: {step: fmt.Sprintf("name: s\ngatewaysServe: {namespace: %s, window: 1s}", ns), want: ns},
		scenarios.ActionDisrupt:       {step: fmt.Sprintf("name: s\ndisrupt: {duration: 1s, scaleDown: {namespace: %s, deployment: none}}", ns), want: `deployments.apps "none" not found`},
	}
	assert.ElementsMatch(t, runner.Kinds(), slices.Collect(maps.Keys(cases)), "every registered action kind has a case here, and only those")
	// A pod whose proxy is of revision 9-01 (as its injector writes it): proxyRevision must name it when asked
	// for 9-02, and uninstallRevision must refuse to remove 9-01 while it runs.
	_, err := e.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "on-9-01", Annotations: map[string]string{istio.SidecarStatusAnnotation: `{"revision":"9-01","containers":["istio-proxy"]}`}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"},
			{Name: istio.ProxyContainer, Image: "example.invalid/proxyv2:9-01"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, kind := range slices.Sorted(maps.Keys(cases)) {
		c := cases[kind]
		t.Run(kind, func(t *testing.T) {
			start := time.Now()
			res := e.RunStepWith(ctx, t, c.readers, c.step)
			if kind == scenarios.ActionSoak {
				require.Equal(t, summary.OutcomePassed, res.Outcome, "%v", res.Err)
				assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "a soak holds for its duration")
				return
			}
			require.NotEqual(t, summary.OutcomePassed, res.Outcome, "the executor did nothing: this spec must fail")
			require.Error(t, res.Err)
			assert.Contains(t, res.Err.Error(), c.want)
		})
	}
}

// Every registered gate fails a run made to fail it and passes one made to pass it. A gate added without a
// case here fails the test.
func TestEveryRegisteredGateJudges(t *testing.T) {
	good := func() *summary.Run {
		return &summary.Run{Phases: []summary.Phase{
			{Name: scenarios.PhaseWarmup, Kind: "warmup", StartMs: 0, EndMs: 1000},
			{Name: "upgrade", Kind: "step", StartMs: 1000, EndMs: 2000, Outcome: summary.OutcomePassed},
		}, Streams: []summary.Stream{{Name: "ingress", Expect: []int{200},
			Totals:   summary.Stats{Requests: 200, Successes: 200, Codes: map[string]int64{"200": 200}, Latency: summary.Latency{P99: 10}},
			PerPhase: []summary.Stats{{Requests: 100, Successes: 100, Latency: summary.Latency{P99: 10}}, {Requests: 100, Successes: 100, Latency: summary.Latency{P99: 10}}}}},
			Observations: map[string][]summary.Observation{}}
	}
	bad := func() *summary.Run {
		r := good()
		r.Phases[1].Outcome, r.Phases[1].Error = summary.OutcomeFailed, "boom"
		s := &r.Streams[0]
		s.PerPhase[1] = summary.Stats{Requests: 100, Successes: 40, Failures: 60, Latency: summary.Latency{P99: 900},
			Codes: map[string]int64{"200": 40, "503": 60}, MaxConsecutiveFailures: 60}
		s.Totals.Successes, s.Totals.Failures, s.MaxConsecutiveFailures = 140, 60, 60
		s.Totals.Latency.P99 = 900
		return r
	}
	addr := &scenarios.GatewayAddressStable{Namespace: "istio-ingress", Service: "gw"}
	hooks := &scenarios.WebhooksServe{Grace: scenarios.Duration(500 * time.Millisecond)}
	hooks.Default()
	hookKey := checks.WebhookObservationPrefix(hooks) + "ValidatingWebhookConfiguration/istiod-default-validator/validation.istio.io"
	prom := &scenarios.Prometheus{URL: "http://127.0.0.1:9090", Query: "sum(rate(errors[$window])) / sum(rate(requests[$window]))", Threshold: "value < 0.01"}
	prom.Default()
	promRun := func(value string) func() *summary.Run {
		return func() *summary.Run {
			r := good()
			b, err := json.Marshal(promgate.Result{Window: "run", ToMs: 2000, ScrapeIntervalMs: 500, Samples: []promgate.Sample{{Series: "{}", Value: value}}})
			require.NoError(t, err)
			r.Observations[promgate.Key(prom)] = []summary.Observation{{AtMs: 2000, Value: string(b)}}
			return r
		}
	}
	cases := map[string]struct {
		spec       scenarios.GateSpec
		pass, fail func() *summary.Run
	}{
		scenarios.GateNoUnexpectedStatus:     {&scenarios.NoUnexpectedStatus{}, good, bad},
		scenarios.GateMaxErrorRatio:          {&scenarios.MaxErrorRatio{Max: 0.01}, good, bad},
		scenarios.GateMaxConsecutiveFailures: {&scenarios.MaxConsecutiveFailures{Max: 3}, good, bad},
		scenarios.GateLatencyP99:             {&scenarios.LatencyP99{Max: scenarios.Duration(500 * time.Millisecond)}, good, bad},
		scenarios.GateStepsSucceeded:         {&scenarios.StepsSucceeded{}, good, bad},
		scenarios.GateGatewayAddressStable: {addr, func() *summary.Run {
			r := good()
			r.Observations[checks.ObservationKey(addr)] = []summary.Observation{{AtMs: 1, Value: "ClusterIP 10.96.0.1 ports http:80/TCP"}}
			r.Observations[checks.EndpointsObservationKey(addr)] = []summary.Observation{{AtMs: 1, Value: "1"}}
			return r
		}, func() *summary.Run {
			r := good()
			r.Observations[checks.ObservationKey(addr)] = []summary.Observation{{AtMs: 1, Value: "ClusterIP 10.96.0.1 ports http:80/TCP"}, {AtMs: 1500, Value: "ClusterIP 10.96.0.2 ports http:80/TCP"}}
			r.Observations[checks.EndpointsObservationKey(addr)] = []summary.Observation{{AtMs: 1, Value: "1"}}
			return r
		}},
		scenarios.GateInMeshCalls: {&scenarios.InMeshCalls{}, func() *summary.Run {
			r := good()
			r.Streams[0].InMesh = &summary.InMesh{Namespace: "demo-a", Identity: "spiffe://cluster.local/ns/demo-a/sa/g",
				Pairs: []summary.InMeshPair{{Phase: "upgrade", From: "old", To: "old", Requests: 50}}}
			return r
		}, func() *summary.Run {
			r := good()
			r.Streams[0].InMesh = &summary.InMesh{Namespace: "demo-a", Identity: "spiffe://cluster.local/ns/demo-a/sa/g",
				Pairs: []summary.InMeshPair{{Phase: "upgrade", From: "old", To: "old", Requests: 50, NotMTLS: 50}}}
			return r
		}},
		scenarios.GateWebhooksServe: {hooks, func() *summary.Run {
			r := good()
			r.Observations[hookKey] = []summary.Observation{{AtMs: 1, Value: "Fail istio-system/istiod-new ready 1"}}
			return r
		}, func() *summary.Run {
			r := good()
			// The validator's Service gone from 1.1 s to the end (2 s): longer than the grace period.
			r.Observations[hookKey] = []summary.Observation{{AtMs: 1, Value: "Fail istio-system/istiod-new ready 1"}, {AtMs: 1100, Value: "Fail istio-system/istiod-new absent"}}
			return r
		}},
		scenarios.GatePrometheus: {prom, promRun("0.002"), promRun("0.2")},
		scenarios.GateInjectionUnchanged: {&scenarios.InjectionUnchanged{}, func() *summary.Run {
			r := good()
			r.Checks = []summary.Check{{Name: "injection demo-a/app-a", Kind: scenarios.RecordInjectionDiff, Passed: true, Phase: "upgrade",
				Evidence: []string{"container istio-proxy image: proxyv2:1.29.6 → proxyv2:1.30.3 (expected: proxy image)"}}}
			return r
		}, func() *summary.Run {
			r := good()
			r.Checks = []summary.Check{{Name: "injection demo-a/app-a", Kind: scenarios.RecordInjectionDiff, Passed: true, Phase: "upgrade",
				Evidence: []string{`container istio-proxy lifecycle: {"postStart":{}} → (absent)`}}}
			return r
		}},
	}
	assert.ElementsMatch(t, checks.Kinds(), slices.Collect(maps.Keys(cases)), "every registered gate kind has a case here, and only those")
	for _, kind := range slices.Sorted(maps.Keys(cases)) {
		c := cases[kind]
		t.Run(kind, func(t *testing.T) {
			g := scenarios.Gate{Name: kind, Kind: kind, Spec: c.spec}
			pass := checks.Evaluate(g, c.pass())
			assert.True(t, pass.Passed, "must pass: %s %v", pass.Summary, pass.Evidence)
			fail := checks.Evaluate(g, c.fail())
			assert.False(t, fail.Passed, "must fail: %s", fail.Summary)
			assert.NotEqual(t, pass.Summary, fail.Summary, "the summary says what differs")
		})
	}
}
