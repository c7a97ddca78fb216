package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/canarygate/canarygate/checks"
	"github.com/canarygate/canarygate/harness"
	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// labArgs are the run arguments of the offline lab, from what hack/lab-env.sh built.
func labArgs(t *testing.T, cluster, out string, extra ...string) []string {
	t.Helper()
	need := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set: eval \"$(bash hack/lab-env.sh)\" first", k)
		}
		return v
	}
	args := []string{"run", "istio-lab", "--out", out, "--no-env",
		"--var", "CLUSTER=" + cluster,
		"--var", "NODE_IMAGE=" + nodeImage(t),
		"--var", "ISTIO_CHARTS=" + need("CANARYGATE_LAB_CHARTS"),
		"--var", "ISTIO_HUB=" + need("CANARYGATE_LAB_HUB"),
		"--var", "OLD_TAG=" + need("CANARYGATE_LAB_OLD_TAG"),
		"--var", "NEW_TAG=" + need("CANARYGATE_LAB_NEW_TAG"),
	}
	for _, a := range strings.Fields(need("CANARYGATE_LAB_ARCHIVES")) {
		args = append(args, "--image-archive", a)
	}
	return append(args, extra...)
}

// TestLabScenarioOnKind runs the offline lab: two real istiod revisions, real injection, rolling restarts of
// real pods under load from the host, drain read from the real istiod, old revision removed — and the gate
// passes with no unexpected response.
func TestLabScenarioOnKind(t *testing.T) {
	skipUnlessE2E(t)
	out := t.TempDir()
	var code int
	var stderr bytes.Buffer
	f := features.New("Istio canary upgrade in the offline lab").
		Assess("the rehearsal passes every gate", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			code = cli.Main(labArgs(t, "canarygate-e2e-lab", filepath.Join(out, "report")),
				streams.IO{In: strings.NewReader(""), Out: os.Stdout, ErrOut: &stderr})
			if code != 0 {
				t.Errorf("canarygate exited %d\n%s", code, stderr.String())
			}
			return ctx
		}).
		Assess("the summary shows both revisions, the moves under load and the removal", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run, err := summary.Read(filepath.Join(out, "report"))
			if err != nil {
				t.Fatal(err)
			}
			if run.Verdict != summary.VerdictPass || run.TotalFailures() != 0 || run.TotalRequests() == 0 {
				t.Errorf("verdict %s, %d requests, %d unexpected", run.Verdict, run.TotalRequests(), run.TotalFailures())
			}
			for _, name := range []string{"install-new-revision", "move-demo-a", "demo-a-on-new-revision", "move-demo-b", "demo-b-on-new-revision", "uninstall-old-control-plane"} {
				i := run.PhaseIndex(name)
				if i < 0 {
					t.Errorf("step %s missing from the summary", name)
					continue
				}
				ph := run.Phases[i]
				if ph.Outcome != summary.OutcomePassed {
					t.Errorf("step %s: %s (%s)", name, ph.Outcome, ph.Error)
				}
				var reqs, fails int64
				for _, st := range run.Streams {
					reqs += st.PerPhase[i].Requests
					fails += st.PerPhase[i].Failures
				}
				t.Logf("%s: %s in %.1fs, %d requests, %d unexpected; %s", name, ph.Outcome, ph.DurationMs()/1000, reqs, fails, strings.Join(ph.Changes, "; "))
			}
			// The drain asked the real old istiod for its connections through a port-forward: istiod answers
			// /debug/connections only to localhost or an authenticated caller, so a 401 or another layout fails
			// the step; an answer in Istio's layout lists nobody (no xDS stream in the lab).
			if i := run.PhaseIndex("uninstall-old-control-plane"); i >= 0 {
				changes := strings.Join(run.Phases[i].Changes, "\n")
				if !strings.Contains(changes, "/debug/connections: istiod-old-") || !strings.Contains(changes, ": 0 connected)") {
					t.Errorf("the drain did not read the old istiod's /debug/connections: %s", changes)
				}
			}
			return ctx
		}).
		Assess("the in-mesh generators' results all arrived, across their restarts by the moves", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run, err := summary.Read(filepath.Join(out, "report"))
			if err != nil {
				t.Fatal(err)
			}
			pairs := map[string]int64{}
			for _, stream := range []string{"demo-a-gen-calls-app-b", "demo-b-gen-calls-app-a"} {
				var st *summary.Stream
				for i := range run.Streams {
					if run.Streams[i].Name == stream {
						st = &run.Streams[i]
					}
				}
				if st == nil || st.InMesh == nil {
					t.Fatalf("no in-mesh stream %s in the summary", stream)
				}
				// Each generator says, when it stops, how many results were pulled from it: their sum is the stream.
				var pulled int64
				var pods []string
				for _, o := range run.Observations[harness.ObservationGenerators(stream)] {
					var pod string
					var n int64
					if _, err := fmt.Sscanf(o.Value, "%s stopped: %d results pulled", &pod, &n); err == nil {
						pulled += n
						pods = append(pods, pod)
					}
					t.Logf("%s generators: %s", stream, o.Value)
				}
				if len(pods) < 4 {
					t.Errorf("%s: expected 2 generators restarted by their namespace's move (4 pods), saw %d stop: %v", stream, len(pods), pods)
				}
				if pulled != st.Totals.Requests || pulled == 0 {
					t.Errorf("stream %s: %d requests judged, generators handed over %d", stream, st.Totals.Requests, pulled)
				}
				for _, p := range st.InMesh.Pairs {
					pairs[p.From+"→"+p.To] += p.Requests
					t.Logf("%s, %s: %s → %s: %d calls, %d unexpected, %d without caller identity", stream, p.Phase, p.From, p.To, p.Requests, p.Failures, p.NotMTLS)
				}
			}
			// The namespaces move one after the other: every pair of revisions calls at some point.
			for _, pair := range []string{"old→old", "new→old", "old→new", "new→new"} {
				if pairs[pair] == 0 {
					t.Errorf("no in-mesh call %s (pairs: %v)", pair, pairs)
				}
			}
			// No Envoy in the lab: no callee sidecar adds X-Forwarded-Client-Cert, so mTLS is not proven.
			gate := checks.Evaluate(scenarios.Gate{Name: "in-mesh", Kind: scenarios.GateInMeshCalls, Spec: &scenarios.InMeshCalls{}}, run)
			if gate.Passed || !strings.Contains(gate.Summary, "not proven") {
				t.Errorf("inMeshCalls in the lab: %v %s (expected not proven: no sidecar data plane)", gate.Passed, gate.Summary)
			}
			t.Logf("inMeshCalls: %s", gate.Summary)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// TestLabGateFailsABrokenRollout: the same lab with demo apps that have no readiness probe, start slowly and
// do not drain: restarting them under load refuses connections, and the gate fails (exit 1) naming the step
// that restarted them.
func TestLabGateFailsABrokenRollout(t *testing.T) {
	skipUnlessE2E(t)
	out := t.TempDir()
	var stderr bytes.Buffer
	f := features.New("a broken rollout in the offline lab").
		Assess("the gate fails and blames the move", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			code := cli.Main(labArgs(t, "canarygate-e2e-lab-broken", filepath.Join(out, "report"), "--var", "DEMO_APPS=lab-demo-apps-unready"),
				streams.IO{In: strings.NewReader(""), Out: os.Stdout, ErrOut: &stderr})
			if code != 1 {
				t.Fatalf("canarygate exited %d, want 1 (gate failed)\n%s", code, stderr.String())
			}
			run, err := summary.Read(filepath.Join(out, "report"))
			if err != nil {
				t.Fatal(err)
			}
			if run.Verdict != summary.VerdictFail {
				t.Errorf("verdict %s, want fail", run.Verdict)
			}
			i := run.PhaseIndex("move-demo-a")
			if i < 0 {
				t.Fatal("no move-demo-a phase")
			}
			var fails int64
			for _, st := range run.Streams {
				fails += st.PerPhase[i].Failures
			}
			if fails == 0 {
				t.Errorf("no unexpected response during move-demo-a")
			}
			blamed := false
			for _, c := range run.Checks {
				if c.Name == "noUnexpectedStatus" && !c.Passed && slices.Contains(c.Steps, "move-demo-a") {
					blamed = true
				}
				t.Logf("check %s passed=%v steps=%v: %s", c.Name, c.Passed, c.Steps, c.Summary)
			}
			if !blamed {
				t.Errorf("noUnexpectedStatus did not fail naming move-demo-a")
			}
			t.Logf("move-demo-a: %d unexpected responses", fails)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
