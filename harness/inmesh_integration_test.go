package harness_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/canarygate/canarygate/aggregate"
	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/cluster"
	"github.com/canarygate/canarygate/cluster/existing"
	"github.com/canarygate/canarygate/demoapp"
	"github.com/canarygate/canarygate/harness"
	"github.com/canarygate/canarygate/internal/testenv"
	"github.com/canarygate/canarygate/kube"
	"github.com/canarygate/canarygate/loadgen"
	"github.com/canarygate/canarygate/meshload"
	"github.com/canarygate/canarygate/meshload/agent"
	"github.com/canarygate/canarygate/runner"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
	"github.com/canarygate/canarygate/timeline"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

// standIns play the generator pods' agents: kwok runs the pods, but their addresses lead off this machine,
// so each pod's agent is an in-process generator on loopback attacking a loopback target. A pod being
// deleted gets its SIGTERM (the attack stops) and keeps its grace period — a finalizer the stand-in lifts
// once everything was pulled, as the kubelet would end the pod once the agent exits.
type standIns struct {
	t      *testing.T
	e      *testenv.Env
	target string
	rate   vegeta.Rate
	mu     sync.Mutex
	agents map[string]*standInAgent
	standInOpts
	// ns is the generators' namespace; answered what the target answered.
	ns       string
	answered int64
}

// standInOpts make the stand-ins misbehave. abrupt: a deleted pod goes at once, its agent killed with results
// still unpulled (no grace period). workers caps each agent's concurrent requests and delay is how long the
// target takes to answer: one worker and a slow target make an agent fall behind its share of the rate.
type standInOpts struct {
	abrupt  bool
	workers uint64
	delay   time.Duration
}

type standInAgent struct {
	g      *agent.Generator
	srv    *httptest.Server
	stop   context.CancelFunc
	lifted atomic.Bool
}

const finalizer = "canarygate.test/grace-period"

func (s *standIns) source(c *cluster.Cluster, pod *corev1.Pod) meshload.Source {
	s.mu.Lock()
	a, ok := s.agents[pod.Name]
	if !ok {
		a = &standInAgent{g: agent.NewGenerator(pod.Name, 100_000)}
		a.g.Revision = pod.Namespace + "-rev"
		a.srv = httptest.NewServer(a.g)
		ctx, cancel := context.WithCancel(context.Background())
		a.stop = cancel
		s.agents[pod.Name] = a
		// The grace period: the pod stays until its agent has handed everything over.
		patch := fmt.Sprintf(`{"metadata":{"finalizers":[%q]}}`, finalizer)
		_, err := s.e.Client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(s.t, err)
		go a.g.Run(ctx, loadgen.Target{Name: "gen", Method: http.MethodGet, URL: s.target, Rate: s.rate, Timeout: 2 * time.Second, MaxWorkers: s.workers})
	}
	s.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		a.stop() // SIGTERM
		if s.abrupt && a.lifted.CompareAndSwap(false, true) {
			_, _ = s.e.Client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			return func(context.Context, string, uint64, int) (agent.Batch, error) {
				return agent.Batch{}, fmt.Errorf("pod %s is gone", pod.Name)
			}
		}
	}
	inner := meshload.HTTPSource(a.srv.Client(), a.srv.URL+"/results")
	return func(ctx context.Context, boot string, after uint64, max int) (agent.Batch, error) {
		b, err := inner(ctx, boot, after, max)
		if err == nil && a.g.Buffer.Drained() && a.lifted.CompareAndSwap(false, true) {
			// The agent exits: the pod may go.
			_, _ = s.e.Client.CoreV1().Pods(pod.Namespace).Patch(context.Background(), pod.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
		return b, err
	}
}

func (s *standIns) produced() (total uint64, pods []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, a := range s.agents {
		total += a.g.Buffer.Pull(0, 0).Produced
		pods = append(pods, name)
	}
	return total, pods
}

// An in-mesh stream on the real API server: canarygate deploys two generators in a namespace, pulls their
// results through the (stand-in) pod proxy while the namespace moves to another revision and every
// Deployment in it restarts — the generators too —, then removes them and pulls what the terminating ones
// still hold. Every result each generator made is counted exactly once, and their lifecycle is on the
// timeline.
func TestInMeshStreamLosesNothingAcrossANamespaceMove(t *testing.T) {
	e := testenv.Need(t, env)
	s, run, err := runInMesh(t, e, standInOpts{})
	require.NoError(t, err)
	require.Equal(t, summary.VerdictPass, run.Verdict, run.Error)
	checkInMesh(t, e, s, run)
}

// A generator that cannot keep its share of the rate (one worker, a target taking 250 ms: at most 4 of the 20
// requests a second it should send) leaves gaps in which an outage would not show. The target answered
// every request 200, yet the run is an error naming the generator — never a pass.
func TestAnInMeshGeneratorThatFellBehindIsAnErrorNotAPass(t *testing.T) {
	e := testenv.Need(t, env)
	_, run, err := runInMesh(t, e, standInOpts{workers: 1, delay: 250 * time.Millisecond})
	require.ErrorIs(t, err, aggregate.ErrSaturated)
	t.Logf("run error: %v", err)
	assert.Contains(t, err.Error(), "in-mesh stream a-calls-b: generator canarygate-gen-a-calls-b-")
	assert.Contains(t, err.Error(), "fell behind its share of the rate: achieved ")
	assert.Contains(t, err.Error(), "of 20/s asked")
	require.NotNil(t, run)
	assert.Equal(t, summary.VerdictError, run.Verdict)
	require.Len(t, run.Streams, 1)
	assert.Zero(t, run.Streams[0].Totals.Failures, "the target failed nothing: the generator did")
}

// A generator killed without its grace period (its results never pulled) spoils the measurement: the run is
// an error naming it, not a verdict.
func TestAGeneratorGoneWithUnpulledResultsIsAnError(t *testing.T) {
	e := testenv.Need(t, env)
	s, run, err := runInMesh(t, e, standInOpts{abrupt: true})
	require.ErrorIs(t, err, meshload.ErrLost)
	assert.Contains(t, err.Error(), "went away with results never pulled")
	// Bounded both ways: what it had made at the last pull and not handed over, and its schedule since.
	ms := regexp.MustCompile(`generator (canarygate-gen-\S+) went away with results never pulled: lost at least (\d+), at most (\d+)`).FindAllStringSubmatch(err.Error(), -1)
	require.NotEmpty(t, ms, err.Error())
	var least, most int64
	for _, m := range ms {
		l, _ := strconv.ParseInt(m[2], 10, 64)
		h, _ := strconv.ParseInt(m[3], 10, 64)
		assert.LessOrEqual(t, l, h, m[0])
		least, most = least+l, most+h
	}
	assert.Positive(t, most, "it was sending at 20/s when it went")
	require.NotNil(t, run)
	assert.Equal(t, summary.VerdictError, run.Verdict)
	// The bounds hold the truth: what the stand-ins made (their agents stopped with their pods, so their
	// totals are final) less what canarygate counted.
	require.Len(t, run.Streams, 1)
	made, _ := s.produced()
	counted := run.Streams[0].Totals.Requests + run.Streams[0].Generator.LocalErrors
	lost := int64(made) - counted
	t.Logf("made %d, counted %d: lost %d, reported at least %d, at most %d", made, counted, lost, least, most)
	assert.GreaterOrEqual(t, lost, least, "more reported lost than was")
	assert.LessOrEqual(t, lost, most, "more lost than the upper bound says")
}

const moveAndSettle = `  - name: move-namespace
    timeout: 1m
    moveNamespace: {namespaces: [${NS}], revision: "1-30"}
  - name: settle
    soak: {duration: 2s}
`

func runInMesh(t *testing.T, e *testenv.Env, opts standInOpts) (*standIns, *summary.Run, error) {
	t.Helper()
	return runInMeshSteps(context.Background(), t, e, opts, moveAndSettle, nil)
}

// runInMeshSteps runs the in-mesh scenario with the given steps (${NS} is the generators' namespace) on ctx;
// observer, when set, hears about the steps.
func runInMeshSteps(ctx context.Context, t *testing.T, e *testenv.Env, opts standInOpts, steps string, observer func(*standIns) harnessObserver) (*standIns, *summary.Run, error) {
	t.Helper()
	ns := e.Namespace(t, "inmesh")
	var answered atomic.Int64
	// The callee answers as the demo app does: its own proxy revision in a header; no X-Forwarded-Client-Cert
	// (no sidecar here), so no call is proven mTLS.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered.Add(1)
		if opts.delay > 0 {
			select {
			case <-time.After(opts.delay):
			case <-r.Context().Done():
			}
		}
		w.Header().Set(demoapp.RevisionHeader, "1-29")
	}))
	defer target.Close()

	const rate = 40
	s := &standIns{ns: ns, t: t, e: e, target: target.URL, rate: meshload.ShareRate(vegeta.Rate{Freq: rate, Per: time.Second}, 2), agents: map[string]*standInAgent{}, standInOpts: opts}
	file := filepath.Join(t.TempDir(), "inmesh.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`name: inmesh
clusters: [{name: lab, provider: existing, kubeconfig: %q}]
traffic:
  warmup: 2s
  cooldown: 1s
  streams:
    - name: a-calls-b
      url: http://app-b.demo-b.svc.cluster.local:8080/
      rate: %d/s
      timeout: 2s
      inMesh: {namespace: %s, replicas: 2, image: example.invalid/demo-app:1}
steps:
%s
checks:
  - stepsSucceeded: {}
report:
  dir: %q
  formats: [json]
`, e.Kubeconfig, rate, ns, strings.ReplaceAll(steps, "${NS}", ns), t.TempDir())), 0o600))
	sc, err := scenarios.Load(file, scenarios.Vars{})
	require.NoError(t, err)

	o := harness.Options{
		Providers:       map[string]cluster.Provider{"existing": existing.Provider{}},
		GeneratorSource: s.source,
	}
	if observer != nil {
		o.Observer = observer(s)
	}
	res, err := harness.Run(ctx, sc, o)
	s.answered = answered.Load()
	if res == nil {
		return s, nil, err
	}
	return s, res.Run, err
}

func checkInMesh(t *testing.T, e *testenv.Env, s *standIns, run *summary.Run) {
	total, pods := s.produced()
	assert.GreaterOrEqual(t, len(pods), 4, "two generators, restarted by the move: %v", pods)
	require.Len(t, run.Streams, 1)
	assert.Equal(t, int64(total), run.Streams[0].Totals.Requests, "every result every generator made, once")
	assert.Equal(t, int64(0), run.Streams[0].Totals.Failures)
	assert.LessOrEqual(t, run.Streams[0].Totals.Requests, s.answered, "none the target did not answer")
	t.Logf("%d generator pods %v: %d results, all pulled; target answered %d", len(pods), pods, total, s.answered)

	lifecycle := run.Observations[harness.ObservationGenerators("a-calls-b")]
	var text []string
	for _, o := range lifecycle {
		text = append(text, o.Value)
	}
	joined := strings.Join(text, "\n")
	t.Logf("generators:\n%s", joined)
	for _, p := range pods {
		assert.Contains(t, joined, p+" created")
		assert.Contains(t, joined, p+" stopped:")
		assert.Contains(t, joined, p+" kept its schedule: ", "each generator's schedule judged")
	}
	// Who called whom: the generators' revision (from their injection status) → the callee's (its answer).
	im := run.Streams[0].InMesh
	require.NotNil(t, im)
	assert.Equal(t, "spiffe://cluster.local/ns/"+s.ns+"/sa/canarygate-gen-a-calls-b", im.Identity)
	var calls, notMTLS int64
	for _, p := range im.Pairs {
		assert.Equal(t, s.ns+"-rev", p.From)
		assert.Equal(t, "1-29", p.To)
		calls += p.Requests
		notMTLS += p.NotMTLS
	}
	assert.Equal(t, int64(total), calls)
	assert.Equal(t, calls, notMTLS, "no callee saw the generators' identity")
	gate := checks.Evaluate(scenarios.Gate{Name: "in-mesh", Kind: scenarios.GateInMeshCalls, Spec: &scenarios.InMeshCalls{}}, run)
	assert.False(t, gate.Passed)
	assert.Contains(t, gate.Summary, "not mTLS: ")
	assert.Equal(t, summary.IdentityViaXFCC, im.Via, "an http:// stream: the identity would come from XFCC")
	assert.Equal(t, "app-b.demo-b.svc.cluster.local", im.Callee)
	assert.Empty(t, im.Peers)

	// Removed at the end.
	d, err := e.Client.AppsV1().Deployments(s.ns).List(context.Background(), metav1.ListOptions{LabelSelector: meshload.StreamLabel})
	require.NoError(t, err)
	assert.Empty(t, d.Items)
}

// The objects canarygate creates for a stream's generators, on the real API server: a ServiceAccount (their
// SPIFFE identity) and a Deployment whose pods learn their name and injection status through the downward API,
// share the rate exactly and keep a grace period to hand over their results; Remove deletes both.
func TestGeneratorObjectsAndTheirRemoval(t *testing.T) {
	e := testenv.Need(t, env)
	ctx := context.Background()
	ns := e.Namespace(t, "genobjects")
	spec := meshload.Spec{Stream: "a-calls-b", Namespace: ns, Image: scenarios.DefaultGeneratorImage, URL: "http://app-b.demo-b.svc.cluster.local:8080/",
		Rate: vegeta.Rate{Freq: 100, Per: time.Second}, Replicas: 3, Timeout: 2 * time.Second,
		Annotations: map[string]string{"inject.istio.io/templates": "grpc-agent"}}
	c := e.Cluster(t)
	require.NoError(t, meshload.Deploy(ctx, c, spec))
	require.NoError(t, meshload.Deploy(ctx, c, spec), "deploying again replaces")

	sa, err := e.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "canarygate-gen-a-calls-b", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "canarygate", sa.Labels[meshload.ManagedLabel])
	assert.Equal(t, "spiffe://cluster.local/ns/"+ns+"/sa/canarygate-gen-a-calls-b", spec.Identity())
	d, err := e.Client.AppsV1().Deployments(ns).Get(ctx, "canarygate-gen-a-calls-b", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), *d.Spec.Replicas)
	pod := d.Spec.Template
	assert.Equal(t, "a-calls-b", pod.Labels[meshload.StreamLabel])
	assert.Equal(t, "grpc-agent", pod.Annotations["inject.istio.io/templates"])
	assert.Equal(t, sa.Name, pod.Spec.ServiceAccountName)
	assert.Equal(t, int64(60), *pod.Spec.TerminationGracePeriodSeconds)
	env := map[string]corev1.EnvVar{}
	for _, v := range pod.Spec.Containers[0].Env {
		env[v.Name] = v
	}
	assert.Equal(t, "100/3s", env[agent.EnvRate].Value, "each of 3 replicas: 100 per 3 s")
	assert.Equal(t, "metadata.name", env[agent.EnvPod].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, "metadata.annotations['sidecar.istio.io/status']", env[agent.EnvIstioStatus].ValueFrom.FieldRef.FieldPath)
	require.NoError(t, kube.WaitRolledOut(ctx, c, ns, d.Name))
	pods, err := meshload.Pods(ctx, c, spec)
	require.NoError(t, err)
	assert.Len(t, pods, 3)

	require.NoError(t, meshload.Remove(ctx, c, spec))
	// Foreground deletion: the Deployment goes once its pods have.
	require.Eventually(t, func() bool {
		_, err := e.Client.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, time.Minute, 100*time.Millisecond)
	_, err = e.Client.CoreV1().ServiceAccounts(ns).Get(ctx, sa.Name, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	require.NoError(t, meshload.Remove(ctx, c, spec), "removing what is gone is fine")
}

// Generators that never answer (their image missing, their port closed): the stream's load never happened,
// and its silence must not pass for zero errors — the run is an error.
func TestAnInMeshStreamThatNeverRanIsAnError(t *testing.T) {
	e := testenv.Need(t, env)
	ns := e.Namespace(t, "silent")
	file := filepath.Join(t.TempDir(), "silent.yaml")
	require.NoError(t, os.WriteFile(file, []byte(fmt.Sprintf(`name: silent
clusters: [{name: lab, provider: existing, kubeconfig: %q}]
traffic:
  warmup: 1s
  cooldown: 1s
  streams:
    - name: gen
      url: http://app-b.demo-b.svc.cluster.local:8080/
      rate: 10/s
      inMesh: {namespace: %s, image: example.invalid/none:1}
steps:
  - name: wait
    soak: {duration: 1s}
report:
  dir: %q
  formats: [json]
`, e.Kubeconfig, ns, t.TempDir())), 0o600))
	sc, err := scenarios.Load(file, scenarios.Vars{})
	require.NoError(t, err)
	unreachable := harness.SourceFor(func(*cluster.Cluster, *corev1.Pod) meshload.Source {
		return func(context.Context, string, uint64, int) (agent.Batch, error) {
			return agent.Batch{}, fmt.Errorf("connection refused")
		}
	})
	res, err := harness.Run(context.Background(), sc, harness.Options{
		Providers:       map[string]cluster.Provider{"existing": existing.Provider{}},
		GeneratorSource: unreachable,
		InMeshOptions:   []meshload.Option{meshload.WithDrainWait(2 * time.Second)},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in-mesh stream gen: no generator sent a request")
	require.NotNil(t, res)
	assert.Equal(t, summary.VerdictError, res.Run.Verdict)
}

// harnessObserver hears about steps starting and ending.
type harnessObserver struct {
	started func(name string)
}

func (o harnessObserver) StepStarted(name string, _ timeline.Kind) { o.started(name) }
func (o harnessObserver) StepFinished(runner.Result)               {}

// An interrupt (SIGINT: the run's context ends) while a step runs, with an in-mesh stream whose generators
// were restarted by a namespace move: the stream still drains every generator — on a context the interrupt
// does not end — so every result every generator made is counted, exactly once; the running step is
// "interrupted", the step after it "not run", and the run's verdict "interrupted" (exit 130), whatever the
// drain found. Before the fix the drain ran on the cancelled context: every pull failed, and the run ended
// "still held results after 1m30s" for generators that had handed everything over — an error, exit 3.
func TestAnInterruptDuringAStepStillDrainsEveryGenerator(t *testing.T) {
	e := testenv.Need(t, env)
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	steps := moveAndSettle + `  - name: hold
    soak: {duration: 10m}
  - name: never
    soak: {duration: 1s}
`
	s, run, err := runInMeshSteps(ctx, t, e, standInOpts{}, steps, func(*standIns) harnessObserver {
		return harnessObserver{started: func(name string) {
			if name == "hold" {
				interrupt() // SIGINT while "hold" runs
			}
		}}
	})
	require.NotNil(t, run, "%v", err)
	assert.NoError(t, err, "the drain found every result: nothing spoiled")
	assert.Equal(t, summary.VerdictInterrupted, run.Verdict)
	outcomes := map[string]string{}
	for _, p := range run.Phases {
		outcomes[p.Name] = p.Outcome
	}
	assert.Equal(t, summary.OutcomePassed, outcomes["move-namespace"])
	assert.Equal(t, summary.OutcomeInterrupted, outcomes["hold"])
	assert.Equal(t, summary.OutcomeNotRun, outcomes["never"])

	total, pods := s.produced()
	require.Len(t, run.Streams, 1)
	assert.Greater(t, total, uint64(0))
	assert.Equal(t, int64(total), run.Streams[0].Totals.Requests, "every result of every generator (%v), exactly once", pods)
	lifecycle := run.Observations[harness.ObservationGenerators("a-calls-b")]
	var stopped int
	for _, o := range lifecycle {
		if strings.Contains(o.Value, " stopped: ") {
			stopped++
		}
	}
	assert.Equal(t, len(pods), stopped, "every generator handed everything over: %v", lifecycle)
}
