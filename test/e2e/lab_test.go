package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/canarygate/canarygate/base/proc"
	"github.com/canarygate/canarygate/harness"
	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/report"
	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// oldIstiodConnected is how proxyRevision reports an old istiod's live connection count.
var oldIstiodConnected = regexp.MustCompile(`/debug/connections: istiod-old-[^:]+: (\d+) connected`)

// strayOnStray is proxyRevision's live finding: the stray pod connected to the stray istiod.
var strayOnStray = regexp.MustCompile(`demo-a/stray-\S+ is connected to istiod istiod-stray-\S+ \(revision stray\)`)

// leftOnStray is the drain's refusal while demo-left is still on stray: its pod named from the pod spec,
// then from istiod-stray's /debug/connections beside the stray pod.
var leftOnStray = regexp.MustCompile(`refusing to uninstall revision stray: 1 proxies still attached \(demo-left/(left-\S+); its istiod lists \d+ connected: (left-\S+\.demo-left, stray-\S+\.demo-a)\)`)

// installedIstiod and upgradedBase are the Helm steps' records of the chart versions they installed.
var (
	installedIstiod = regexp.MustCompile(`installed istiod (\S+) \(revision`)
	upgradedBase    = regexp.MustCompile(`istio-base: upgraded (\S+ revision \d+ → \S+) revision`)
)

// oldPilotXDS and drainedPilotXDS are the old istiod's pilot_xds gauge as proxyRevision and the drain
// record it.
var (
	oldPilotXDS     = regexp.MustCompile(`revision old: pilot_xds istiod-old-\S+ (\d+)`)
	drainedPilotXDS = regexp.MustCompile(`no connected proxy \(pilot_xds: istiod-old-\S+ (\d+)`)
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
		"--var", "OLD_ISTIO_CHARTS=" + need("CANARYGATE_LAB_OLD_CHARTS"),
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
	var rehearsalFailed string
	f := features.New("Istio canary upgrade in the offline lab").
		Assess("the rehearsal passes every gate", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// The cluster is kept for the drills below (--reuse-cluster) and deleted by the teardown.
			code = cli.Main(labArgs(t, labCluster, filepath.Join(out, "report"), "--keep-cluster"),
				streams.IO{In: strings.NewReader(""), Out: os.Stdout, ErrOut: &stderr})
			if code != 0 {
				// Why, from the summary, in the failure itself — and again at the teardown, the end of the
				// suite's output, which is what a CI log's excerpt shows.
				rehearsalFailed = fmt.Sprintf("the lab rehearsal exited %d: %s", code, whyNotPassed(filepath.Join(out, "report")))
				t.Errorf("%s\n%s", rehearsalFailed, stderr.String())
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
			// Each revision from its own module's charts (hack/lab-env.sh stamps each with its source's version
			// and image tag): the two istiod releases and the base upgrade show it.
			chartOf := func(phase string, re *regexp.Regexp) string {
				if i := run.PhaseIndex(phase); i >= 0 {
					if m := re.FindStringSubmatch(strings.Join(run.Phases[i].Changes, "\n")); m != nil {
						return m[1]
					}
				}
				return ""
			}
			oldChart, newChart := chartOf("istiod-old", installedIstiod), chartOf("install-new-revision", installedIstiod)
			oldTag, newTag := os.Getenv("CANARYGATE_LAB_OLD_TAG"), os.Getenv("CANARYGATE_LAB_NEW_TAG")
			if !strings.HasSuffix(oldChart, "."+oldTag) || !strings.HasSuffix(newChart, "."+newTag) || oldChart == newChart {
				t.Errorf("istiod charts: old %q (want …%s), new %q (want …%s)", oldChart, oldTag, newChart, newTag)
			}
			// Every chart of a module carries the same stamp: base goes from OLD's version to NEW's.
			base := chartOf("upgrade-base", upgradedBase)
			if base != oldChart+" revision 1 → "+newChart {
				t.Errorf("upgrade-base: %q, want base upgraded from OLD's chart to NEW's (%s → %s)", base, oldChart, newChart)
			}
			t.Logf("charts: istiod-old %s, istiod-new %s, base %s", oldChart, newChart, base)
			// Live istiod state, read through a port-forward (istiod answers /debug/connections only to localhost
			// or an authenticated caller): before the moves every demo pod — apps as xDS servers, generators as
			// xDS clients — holds a stream to the old istiod; at the removal it lists none.
			if i := run.PhaseIndex("demo-on-old-revision"); i >= 0 {
				changes := strings.Join(run.Phases[i].Changes, "\n")
				m := oldIstiodConnected.FindStringSubmatch(changes)
				if m == nil || !strings.Contains(changes, "each connected to an istiod of revision old and no other") {
					t.Errorf("demo-on-old-revision did not check the pods against the old istiod's /debug/connections: %s", changes)
				} else if m[1] == "0" {
					t.Errorf("the old istiod listed no connected proxy before the moves: %s", changes)
				}
				if m := oldPilotXDS.FindStringSubmatch(changes); m == nil || m[1] == "0" {
					t.Errorf("the old istiod's pilot_xds was not > 0 before the moves: %s", changes)
				}
			}
			for _, step := range []string{"demo-a-on-new-revision", "demo-b-on-new-revision"} {
				if i := run.PhaseIndex(step); i >= 0 && !strings.Contains(strings.Join(run.Phases[i].Changes, "\n"), "each connected to an istiod of revision new and no other (istiod's /debug/connections") {
					t.Errorf("%s did not check the pods against istiod's live connections: %v", step, run.Phases[i].Changes)
				}
			}
			// Which proxy runs: every pod the image of its revision's build.
			for step, tag := range map[string]string{"demo-on-old-revision": oldTag, "demo-a-on-new-revision": newTag, "demo-b-on-new-revision": newTag} {
				if i := run.PhaseIndex(step); i >= 0 && !strings.Contains(strings.Join(run.Phases[i].Changes, "\n"), ": all run proxy image "+os.Getenv("CANARYGATE_LAB_HUB")+"/proxyv2:"+tag) {
					t.Errorf("%s did not check the proxy image (…/proxyv2:%s): %v", step, tag, run.Phases[i].Changes)
				}
			}
			if i := run.PhaseIndex("uninstall-old-control-plane"); i >= 0 {
				changes := strings.Join(run.Phases[i].Changes, "\n")
				if !strings.Contains(changes, "/debug/connections: istiod-old-") || !strings.Contains(changes, ": 0 connected)") {
					t.Errorf("the drain did not read the old istiod's /debug/connections: %s", changes)
				}
				if m := drainedPilotXDS.FindStringSubmatch(changes); m == nil || m[1] != "0" {
					t.Errorf("the drain did not see the old istiod's pilot_xds at 0: %s", changes)
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
						// The worst wait of a result in the generator before a pull brought it: pulls every
						// 500 ms keep it to about a second; tens of seconds would be an ingest falling behind.
						m := regexp.MustCompile(`worst pull lag ([^)]+)\)`).FindStringSubmatch(o.Value)
						if m == nil {
							t.Errorf("%s: no pull lag in %q", stream, o.Value)
						} else if lag, err := time.ParseDuration(m[1]); err != nil || lag <= 0 || lag > 30*time.Second {
							t.Errorf("%s: pull lag %q (%v)", stream, m[1], err)
						}
					}
					t.Logf("%s generators: %s", stream, o.Value)
				}
				if len(pods) < 2 {
					t.Errorf("%s: expected its generator restarted by its namespace's move (2 pods), saw %d stop: %v", stream, len(pods), pods)
				}
				if pulled != st.Totals.Requests || pulled == 0 {
					t.Errorf("stream %s: %d requests judged, generators handed over %d", stream, st.Totals.Requests, pulled)
				}
				for _, p := range st.InMesh.Pairs {
					pairs[p.From+"→"+p.To] += p.Requests
					t.Logf("%s, %s: %s → %s: %d calls, %d unexpected, %d without caller identity", stream, p.Phase, p.From, p.To, p.Requests, p.Failures, p.NotMTLS)
				}
			}
			// The namespaces move one after the other: every pair of revisions calls at some point, each call
			// a real mTLS handshake whose callee saw the generators' SPIFFE identity, none in plaintext.
			for _, pair := range []string{"old→old", "new→old", "old→new", "new→new"} {
				if pairs[pair] == 0 {
					t.Errorf("no in-mesh call %s (pairs: %v)", pair, pairs)
				}
			}
			for _, st := range run.Streams {
				if st.InMesh == nil {
					continue
				}
				if st.InMesh.Via != summary.IdentityViaTLS || st.InMesh.Peers[st.InMesh.Identity] == 0 || len(st.InMesh.Peers) != 1 {
					t.Errorf("%s: identity via %q, callers seen %v, want only %s from the TLS handshake", st.Name, st.InMesh.Via, st.InMesh.Peers, st.InMesh.Identity)
				}
				for _, p := range st.InMesh.Pairs {
					if p.NotMTLS != 0 || p.Failures != 0 {
						t.Errorf("%s, %s: %s→%s %d calls, %d not mTLS, %d unexpected", st.Name, p.Phase, p.From, p.To, p.Requests, p.NotMTLS, p.Failures)
					}
				}
			}
			gate := checkOf(run, scenarios.GateInMeshCalls)
			if gate == nil || !gate.Passed || !strings.Contains(gate.Summary, "identity from the TLS handshake seen by") {
				t.Errorf("inMeshCalls: %+v", gate)
			} else {
				t.Logf("inMeshCalls: %s\n%s", gate.Summary, strings.Join(gate.Evidence, "\n"))
			}
			// What injection changed, from a real pod of each revision: app-a's record names its proxy image
			// OLD → NEW (expected), and nothing beyond the revision and the image changed (the two modules'
			// grpc-agent templates are the same file).
			var injection *summary.Check
			for i := range run.Checks {
				if run.Checks[i].Kind == scenarios.RecordInjectionDiff && run.Checks[i].Name == "injection demo-a/app-a" && run.Checks[i].Phase == "move-demo-a" {
					injection = &run.Checks[i]
				}
			}
			hub := os.Getenv("CANARYGATE_LAB_HUB")
			image := "container istio-proxy image: " + hub + "/proxyv2:" + os.Getenv("CANARYGATE_LAB_OLD_TAG") + " → " + hub + "/proxyv2:" + os.Getenv("CANARYGATE_LAB_NEW_TAG") + " (expected: proxy image)"
			if injection == nil || !slices.Contains(injection.Evidence, image) {
				t.Errorf("no injection record of demo-a/app-a naming %q: %+v", image, injection)
			} else {
				t.Logf("%s: %s\n%s", injection.Name, injection.Summary, strings.Join(injection.Evidence, "\n"))
			}
			if g := checkOf(run, scenarios.GateInjectionUnchanged); g == nil || !g.Passed {
				t.Errorf("injectionUnchanged: %+v", g)
			}
			// Every Istio webhook served throughout, the new revision's own install step included: its
			// injector and validator observed (not passed on nothing).
			hooks := checkOf(run, scenarios.GateWebhooksServe)
			if hooks == nil || !hooks.Passed || !slices.ContainsFunc(hooks.Evidence, func(e string) bool {
				return strings.HasPrefix(e, "MutatingWebhookConfiguration/istio-sidecar-injector-new/")
			}) {
				t.Errorf("webhooksServe: %+v", hooks)
			} else {
				t.Logf("webhooksServe: %s\n%s", hooks.Summary, strings.Join(hooks.Evidence, "\n"))
			}
			return ctx
		}).
		Assess("drill, a pod on the wrong istiod: only the live view sees it, and it fails", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			hub, oldTag, newTag := os.Getenv("CANARYGATE_LAB_HUB"), os.Getenv("CANARYGATE_LAB_OLD_TAG"), os.Getenv("CANARYGATE_LAB_NEW_TAG")
			run := drill(t, "lab-wrong-istiod.yaml", 1, "ISTIO_CHARTS="+os.Getenv("CANARYGATE_LAB_CHARTS"),
				"ISTIO_HUB="+hub, "OLD_TAG="+oldTag, "NEW_TAG="+newTag)
			step := func(name string) summary.Phase {
				i := run.PhaseIndex(name)
				if i < 0 {
					t.Fatalf("no phase %s", name)
				}
				return run.Phases[i]
			}
			// proxyRevision: the pod spec passes (the first change line says every pod is on new); istiod's
			// /debug/connections names the stray pod on istiod-stray.
			pr := step("demo-a-on-new-revision")
			if pr.Outcome != summary.OutcomeFailed || !strayOnStray.MatchString(pr.Error) || !strings.Contains(pr.Error, "(istiod's /debug/connections: ") {
				t.Errorf("proxyRevision: %s: %s", pr.Outcome, pr.Error)
			}
			if !strings.Contains(strings.Join(pr.Changes, "\n"), "all on revision new") {
				t.Errorf("the pod spec check did not pass first (the failure must come from istiod): %v", pr.Changes)
			}
			// The right revision, the wrong proxy: the pod injected by new runs OLD's proxyv2.
			img := step("right-revision-wrong-image")
			if want := "right revision new, wrong proxy: demo-image/pinned-"; img.Outcome != summary.OutcomeFailed || !strings.Contains(img.Error, want) ||
				!strings.Contains(img.Error, " runs proxy image "+hub+"/proxyv2:"+oldTag+", not "+hub+"/proxyv2:"+newTag) {
				t.Errorf("right-revision-wrong-image: %s: %s", img.Outcome, img.Error)
			}
			// A namespace left on the revision: refused, naming its pod by its spec and by istiod-stray's list
			// (which also holds the stray pod).
			left := step("uninstall-stray-left-namespace")
			if left.Outcome != summary.OutcomeFailed || !leftOnStray.MatchString(left.Error) {
				t.Errorf("uninstall-stray-left-namespace: %s: %s", left.Outcome, left.Error)
			}
			// Once demo-left moved: the pods say nobody is on stray, istiod-stray lists the pod — refused, naming it.
			un := step("uninstall-stray")
			if un.Outcome != summary.OutcomeFailed || !strings.Contains(un.Error, "refusing to uninstall revision stray") || !strings.Contains(un.Error, "/debug/connections lists stray-") {
				t.Errorf("uninstall-stray: %s: %s", un.Outcome, un.Error)
			}
			if rm := step("remove-stray-revision"); rm.Outcome != summary.OutcomePassed {
				t.Errorf("teardown did not remove the stray revision: %s: %s", rm.Outcome, rm.Error)
			}
			t.Logf("proxyRevision: %s\nwrong image: %s\nuninstall, namespace left: %s\nuninstall: %s", pr.Error, img.Error, left.Error, un.Error)
			return ctx
		}).
		Assess("drill, mTLS off: calls in plaintext fail inMeshCalls", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-mtls-off.yaml", 1)
			c := checkOf(run, scenarios.GateInMeshCalls)
			if c == nil || c.Passed || !strings.HasPrefix(c.Summary, "not mTLS: ") || !slices.Contains(c.Steps, "calls-in-plaintext") {
				t.Fatalf("inMeshCalls with mTLS off: %+v", c)
			}
			// The pair and the step are named, with the calls answered in plaintext.
			named := false
			for _, e := range c.Evidence {
				named = named || (strings.HasPrefix(e, "demo-a-gen-calls-app-b, calls-in-plaintext: new→new ") && !strings.Contains(e, " 0 answered without"))
			}
			if !named {
				t.Errorf("no evidence naming new→new during calls-in-plaintext: %v", c.Evidence)
			}
			t.Logf("inMeshCalls: %s\n%s", c.Summary, strings.Join(c.Evidence, "\n"))
			return ctx
		}).
		Assess("drill, a trust break: a revision with its own root fails the gates, naming the step", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-trust-break.yaml", 1, "ISTIO_CHARTS="+os.Getenv("CANARYGATE_LAB_CHARTS"),
				"ISTIO_HUB="+os.Getenv("CANARYGATE_LAB_HUB"), "NEW_TAG="+os.Getenv("CANARYGATE_LAB_NEW_TAG"),
				"TRUST_MANIFEST="+rogueTrust(t, "demo-rogue", "istio-ca-root-cert-rogue"))
			if run.Verdict != summary.VerdictFail {
				t.Errorf("verdict %s, want fail", run.Verdict)
			}
			for _, name := range []string{"install-rogue-revision", "move-demo-rogue"} {
				if i := run.PhaseIndex(name); i < 0 || run.Phases[i].Outcome != summary.OutcomePassed {
					t.Errorf("%s did not pass: the rogue revision must install and take its namespace (the break is in the calls)", name)
				}
			}
			c := checkOf(run, scenarios.GateInMeshCalls)
			if c == nil || c.Passed || !slices.Contains(c.Steps, "calls-across-roots") || slices.Contains(c.Steps, "calls-on-one-root") {
				t.Fatalf("inMeshCalls: %+v", c)
			}
			// On one root: new→new, every call mTLS-proven. Across the roots: nobody answers, every call fails.
			var before, across string
			for _, e := range c.Evidence {
				switch {
				case strings.HasPrefix(e, "demo-a-gen-calls-app-r, calls-on-one-root: new→new "):
					before = e
				case strings.HasPrefix(e, "demo-a-gen-calls-app-r, calls-across-roots: new→(no answer) "):
					across = e
				}
			}
			if !strings.Contains(before, " 0 unexpected") || strings.Contains(before, " 0 mTLS-proven") {
				t.Errorf("before the move: %q, want new→new calls all mTLS-proven", before)
			}
			if across == "" || strings.Contains(across, " 0 unexpected") || !strings.Contains(across, " 0 mTLS-proven") {
				t.Errorf("across the roots: %q, want every call failed with no answer", across)
			}
			// Why: the handshake, as grpc-go reports a certificate from an unknown root.
			var why []string
			for _, st := range run.Streams {
				for _, e := range st.Errors {
					why = append(why, fmt.Sprintf("%s (%d)", e.Message, e.Count))
				}
			}
			if !strings.Contains(strings.Join(why, "\n"), "authentication handshake failed") {
				t.Errorf("no handshake failure among the errors: %v", why)
			}
			if u := checkOf(run, scenarios.GateNoUnexpectedStatus); u == nil || u.Passed || !slices.Contains(u.Steps, "calls-across-roots") {
				t.Errorf("noUnexpectedStatus: %+v", u)
			}
			if i := run.PhaseIndex("remove-rogue-revision"); i < 0 || run.Phases[i].Outcome != summary.OutcomePassed {
				t.Errorf("teardown did not remove the rogue revision")
			}
			// The rogue revision's webhooks unserved: its Fail injector with istiod scaled to 0, and the default
			// validator naming it once uninstalled — each named with its window and the step it began in.
			w := checkOf(run, scenarios.GateWebhooksServe)
			// The scale step ends when the Deployment reports 0 replicas; the EndpointSlice may follow a moment
			// later, in the soak: either step began the window.
			if w == nil || w.Passed || (!slices.Contains(w.Steps, "istiod-rogue-down") && !slices.Contains(w.Steps, "rogue-webhooks-unserved")) || !slices.Contains(w.Steps, "uninstall-rogue") {
				t.Fatalf("webhooksServe: %+v", w)
			}
			down := regexp.MustCompile(`^MutatingWebhookConfiguration/istio-sidecar-injector-rogue/\S+: Service istio-system/istiod-rogue has no ready endpoint \(failurePolicy Fail: requests refused\) from [\d.]+s to [\d.]+s \([\d.]+s, longer than 3s, from "(istiod-rogue-down|rogue-webhooks-unserved)"\)$`)
			dangling := regexp.MustCompile(`^ValidatingWebhookConfiguration/istiod-default-validator/validation.istio.io: Service istio-system/istiod-rogue is gone \(failurePolicy \w+\) from [\d.]+s to [\d.]+s \([\d.]+s, longer than 3s, from "uninstall-rogue"\)$`)
			if !slices.ContainsFunc(w.Evidence, down.MatchString) || !slices.ContainsFunc(w.Evidence, dangling.MatchString) {
				t.Errorf("webhooksServe evidence does not name the injector with istiod down and the dangling default validator:\n%s", strings.Join(w.Evidence, "\n"))
			}
			t.Logf("webhooksServe: %s\n%s", w.Summary, strings.Join(w.Evidence, "\n"))
			t.Logf("inMeshCalls: %s\n%s\nerrors: %v", c.Summary, strings.Join(c.Evidence, "\n"), why)
			return ctx
		}).
		Assess("drill, two clusters: the same steps on each, a failure on the second attributed to it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var flags []string
			for _, a := range strings.Fields(os.Getenv("CANARYGATE_LAB_ARCHIVES")) {
				flags = append(flags, "--image-archive", a)
			}
			config, err := filepath.Abs(filepath.Join("testdata", "kind-second.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			// The second cluster's demo-a goes to a revision nobody installed: its pods are not injected.
			run := drillWith(t, "lab-two-clusters.yaml", 1, flags, "SECOND="+secondCluster, "SECOND_CONFIG="+config,
				"ISTIO_CHARTS="+os.Getenv("CANARYGATE_LAB_CHARTS"), "OLD_ISTIO_CHARTS="+os.Getenv("CANARYGATE_LAB_OLD_CHARTS"),
				"ISTIO_HUB="+os.Getenv("CANARYGATE_LAB_HUB"), "OLD_TAG="+os.Getenv("CANARYGATE_LAB_OLD_TAG"),
				"NEW_TAG="+os.Getenv("CANARYGATE_LAB_NEW_TAG"), "SECOND_MOVE_TO=not-installed")
			first, second := "["+labCluster+"]", "["+secondCluster+"]"
			for _, name := range []string{"install-canary", "move-demo-a", "demo-a-on-canary"} {
				if i := run.PhaseIndex(name + first); i < 0 || run.Phases[i].Outcome != summary.OutcomePassed {
					t.Errorf("%s%s: %+v", name, first, run.Phases[max(i, 0)])
				}
			}
			var failed []string
			for _, p := range run.Phases {
				if p.Outcome == summary.OutcomeFailed || p.Outcome == summary.OutcomeTimedOut {
					failed = append(failed, p.Name)
				}
			}
			if len(failed) != 1 || !strings.HasSuffix(failed[0], second) {
				t.Errorf("failed steps %v, want one step of %s", failed, second)
			}
			if c := checkOf(run, scenarios.GateStepsSucceeded); c == nil || c.Passed || len(c.Steps) != 1 || !strings.HasSuffix(c.Steps[0], second) {
				t.Errorf("stepsSucceeded does not blame the second cluster's step: %+v", c)
			}
			for _, st := range run.Streams {
				if st.Totals.Requests == 0 {
					t.Errorf("stream %s sent nothing: each cluster is under load", st.Name)
				}
			}
			t.Logf("failed: %v", failed)
			return ctx
		}).
		Assess("drill, the istioctl label swap: from istio-injection=enabled to istio.io/rev=canary under load", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-label-swap.yaml", 0, "ISTIO_CHARTS="+os.Getenv("CANARYGATE_LAB_CHARTS"),
				"ISTIO_HUB="+os.Getenv("CANARYGATE_LAB_HUB"), "NEW_TAG="+os.Getenv("CANARYGATE_LAB_NEW_TAG"))
			// The documents' starting point, real: demo-a labelled only istio-injection=enabled, its pods
			// injected by "new" through the default tag's legacy webhook; then swapped to the canary, whose
			// istiod lists every pod's xDS stream.
			for name, want := range map[string]string{"demo-a-injected-through-the-default-tag": "all on revision new", "demo-a-on-canary": "all on revision canary"} {
				i := run.PhaseIndex(name)
				if i < 0 || run.Phases[i].Outcome != summary.OutcomePassed || !strings.Contains(strings.Join(run.Phases[i].Changes, "\n"), want) {
					t.Errorf("%s: %+v", name, run.Phases[max(i, 0)])
				}
			}
			if c := checkOf(run, scenarios.GateNoUnexpectedStatus); c == nil || !c.Passed || run.TotalRequests() == 0 {
				t.Errorf("label swap under load: %+v, %d requests", c, run.TotalRequests())
			}
			return ctx
		}).
		Assess("drill, the AKS tag flow: complete when the canary is healthy, roll back when it is not", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			hub, newTag := os.Getenv("CANARYGATE_LAB_HUB"), os.Getenv("CANARYGATE_LAB_NEW_TAG")
			vars := []string{"ISTIO_CHARTS=" + os.Getenv("CANARYGATE_LAB_CHARTS"), "ISTIO_HUB=" + hub, "NEW_TAG=" + newTag}
			step := func(run *summary.Run, name string) summary.Phase {
				i := run.PhaseIndex(name)
				if i < 0 {
					t.Fatalf("no phase %s", name)
				}
				return run.Phases[i]
			}
			// Healthy canary (NEW's proxy, on the node): completed, the rollback branch skipped, exit 0.
			run := drill(t, "lab-aks-tags.yaml", 0, append(vars, "CANARY_PROXY="+hub+"/proxyv2:"+newTag)...)
			if run.Verdict != summary.VerdictPass {
				t.Errorf("healthy canary: verdict %s, want pass", run.Verdict)
			}
			for _, name := range []string{"promote-prod-stable", "demo-a-on-stable", "demo-a-on-canary-revision"} {
				if p := step(run, name); p.Outcome != summary.OutcomePassed {
					t.Errorf("healthy canary: %s %s (%s)", name, p.Outcome, p.Error)
				}
			}
			if p := step(run, "roll-back"); p.Outcome != summary.OutcomeSkipped || p.Error != "not taken: runs only if canary-demo-a failed, and it passed" {
				t.Errorf("healthy canary: roll-back %s (%s), want skipped", p.Outcome, p.Error)
			}
			// A canary whose proxy cannot be pulled: its rollout stalls (demo-a's old pod keeps serving), the
			// run rolls back — verdict "rolled back", exit 1, naming the step that decided — and the traffic
			// of the whole run, the rollback's included, stays clean.
			run = drill(t, "lab-aks-tags.yaml", 1, append(vars, "CANARY_PROXY=canarygate.local/missing/proxyv2:none")...)
			if run.Verdict != summary.VerdictRolledBack || !strings.HasPrefix(run.DecidedBy, "canary-demo-a ") {
				t.Errorf("broken canary: verdict %s decided by %q, want rolled back by canary-demo-a", run.Verdict, run.DecidedBy)
			}
			if p := step(run, "promote-prod-stable"); p.Outcome != summary.OutcomeSkipped {
				t.Errorf("broken canary: promote-prod-stable %s, want skipped", p.Outcome)
			}
			for _, name := range []string{"roll-back", "demo-a-back-on-new"} {
				if p := step(run, name); p.Outcome != summary.OutcomePassed {
					t.Errorf("broken canary: %s %s (%s)", name, p.Outcome, p.Error)
				}
			}
			if c := checkOf(run, scenarios.GateNoUnexpectedStatus); c == nil || !c.Passed {
				t.Errorf("broken canary: the traffic was not clean: %+v", c)
			}
			t.Logf("rolled back: %s", run.DecidedBy)
			return ctx
		}).
		Assess("drill, istiod of the new revision down for 30 s while demo-a restarts: connected proxies serve, the rollout stalls on its injector", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-istiod-down.yaml", 1)
			w := window(t, run, "istiod-new-down")
			if !w.Restored || w.EndMs-w.StartMs < 30000 || !strings.Contains(strings.Join(w.Events, "\n"), "scaled deployment istio-system/istiod-new from 1 to 0") {
				t.Errorf("window: %+v", w)
			}
			// Connected proxies keep their last configuration: every stream — the host's, app-a calling app-b
			// over mTLS, the in-mesh generator in demo-b calling app-a over mTLS — sent in the window and got
			// nothing unexpected.
			for _, st := range run.Streams {
				if len(st.PerWindow) != 1 || st.PerWindow[0].Requests == 0 || st.PerWindow[0].Failures != 0 {
					t.Errorf("stream %s in the window: %+v", st.Name, st.PerWindow)
				}
			}
			if c := checkOf(run, scenarios.GateNoUnexpectedStatus); c == nil || !c.Passed {
				t.Errorf("noUnexpectedStatus: %+v", c)
			}
			if i := run.PhaseIndex("restart-demo-a"); i < 0 || run.Phases[i].Outcome != summary.OutcomeTimedOut {
				t.Errorf("restart-demo-a: %+v", run.Phases[max(i, 0)])
			}
			// The stall named from the webhook observations, with the window, and the webhook gate failing on it.
			stalled := regexp.MustCompile(`restart-demo-a: rollout stalled: webhook istio-sidecar-injector-new has no ready endpoint \(Service istio-system/istiod-new, failurePolicy Fail\) from [\d.]+s to [\d.]+s, during disruption istiod-new-down`)
			if c := checkOf(run, scenarios.GateStepsSucceeded); c == nil || c.Passed || !stalled.MatchString(c.Summary) {
				t.Errorf("stepsSucceeded does not say the rollout stalled on the injector: %+v", c)
			}
			if c := checkOf(run, scenarios.GateWebhooksServe); c == nil || c.Passed || !strings.Contains(c.Summary, "istio-sidecar-injector-new") {
				t.Errorf("webhooksServe: %+v", c)
			}
			if n := deploymentReplicas(t, "istio-system", "istiod-new"); n != 1 {
				t.Errorf("istiod-new has %d replicas after the drill: the disruption was not restored", n)
			}
			return ctx
		}).
		Assess("drill, interrupted while istiod of the new revision is down: it is restored all the same, exit 130", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Ctrl-C in the window: the disruption is restored at once (istiod-new back and available), the
			// teardown rolls demo-a out again, and the run exits 130.
			out := filepath.Join(t.TempDir(), "report")
			cmd := exec.Command(os.Args[0], drillArgs(t, "lab-istiod-down.yaml", out)...)
			cmd.Env = append(os.Environ(), envMain+"=1")
			stderr := &proc.Output{}
			cmd.Stdout, cmd.Stderr = io.Discard, stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// The run says each step as it starts: interrupt once istiod-new's pods are gone.
			if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
				return strings.Contains(stderr.String(), "step restart-demo-a"), nil
			}); err != nil {
				_ = cmd.Process.Kill()
				t.Fatalf("never reached restart-demo-a: %v\n%s", err, stderr.String())
			}
			// The interrupt must land inside the window: istiod-new is down now (restart-demo-a starts after
			// the disruption scaled it to 0, and the window lasts 30 s).
			if n := deploymentReplicas(t, "istio-system", "istiod-new"); n != 0 {
				t.Errorf("istiod-new has %d replicas at the interrupt: the drill is not interrupting a disruption", n)
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 130 {
					t.Errorf("exit %v, want 130\n%s", err, stderr.String())
				}
			case <-time.After(5 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("canarygate did not stop within 5 minutes of SIGINT\n%s", stderr.String())
			}
			run, err := summary.Read(out)
			if err != nil {
				t.Fatal(err)
			}
			if run.Verdict != summary.VerdictInterrupted {
				t.Errorf("verdict %s, want interrupted", run.Verdict)
			}
			w := window(t, run, "istiod-new-down")
			if events := strings.Join(w.Events, "\n"); !w.Restored || !strings.Contains(events, "deployment istio-system/istiod-new available again (1)") ||
				!strings.Contains(events, "cut short") || w.EndMs-w.StartMs >= 30000 {
				t.Errorf("window not cut short by the interrupt and restored: %+v", w)
			}
			if n := deploymentReplicas(t, "istio-system", "istiod-new"); n != 1 {
				t.Errorf("istiod-new has %d replicas after the interrupted drill", n)
			}
			return ctx
		}).
		Assess("drill, the kube-apiserver restarted mid-run: pulls resume, nothing lost or counted twice, the outage on the timeline", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-apiserver-restart.yaml", 0)
			if w := window(t, run, "restart-apiserver"); !w.Restored || !strings.Contains(strings.Join(w.Events, "\n"), "is ready again") {
				t.Errorf("restart window: %+v", w)
			}
			outage := window(t, run, "API server of "+labCluster+" unreachable")
			if !regexp.MustCompile(`^API server of cluster \S+ unreachable \d\d:\d\d:\d\d–\d\d:\d\d:\d\d$`).MatchString(outage.What) {
				t.Errorf("outage: %+v", outage)
			}
			// The generator's own count of what it made equals what canarygate counted from it.
			var made int64
			for _, o := range run.Observations[harness.ObservationGenerators("demo-b-gen-calls-app-a")] {
				if m := regexp.MustCompile(` stopped: (\d+) results pulled`).FindStringSubmatch(o.Value); m != nil {
					n, _ := strconv.ParseInt(m[1], 10, 64)
					made += n
				}
			}
			found := false
			for _, st := range run.Streams {
				if st.Name == "demo-b-gen-calls-app-a" {
					found = true
					if made == 0 || made != st.Totals.Requests+st.Generator.LocalErrors {
						t.Errorf("generator made %d, canarygate counted %d (+%d local errors)", made, st.Totals.Requests, st.Generator.LocalErrors)
					}
				}
			}
			if !found {
				t.Errorf("no stream demo-b-gen-calls-app-a in the run: nothing was compared")
			}
			t.Logf("outage %s (%.1fs); in-mesh results made and counted: %d", outage.What, (outage.EndMs-outage.StartMs)/1000, made)
			return ctx
		}).
		Assess("drill, the in-mesh generator's pod killed without grace: its unpulled results reported lost, the run an error naming the pod", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-generator-kill.yaml", 3)
			if run.Verdict != summary.VerdictError {
				t.Errorf("verdict %s, want error: the measurement is incomplete", run.Verdict)
			}
			lost := regexp.MustCompile(`in-mesh stream demo-b-gen-calls-app-a: generator (canarygate-gen-\S+) went away with results never pulled: lost at least (\d+), at most (\d+)`)
			m := lost.FindStringSubmatch(run.Error)
			if m == nil {
				t.Fatalf("the error does not name the pod and what was lost: %s", run.Error)
			}
			least, _ := strconv.Atoi(m[2])
			most, _ := strconv.Atoi(m[3])
			if most <= least {
				t.Errorf("lost at least %d, at most %d: the schedule since the last pull bounds it above", least, most)
			}
			if w := window(t, run, "kill-generator"); !strings.Contains(strings.Join(w.Events, "\n"), m[1]) {
				t.Errorf("the window does not name the pod killed: %+v", w)
			}
			t.Logf("%s", m[0])
			return ctx
		}).
		Assess("drill, the node paused for 5 s: the host stream times out, attributed to the pause and its window", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run := drill(t, "lab-node-pause.yaml", 1)
			w := window(t, run, "pause-node")
			events := strings.Join(w.Events, "\n")
			if !w.Restored || !strings.Contains(events, "paused node "+labCluster+"-control-plane") || !strings.Contains(events, "unpaused node "+labCluster+"-control-plane") {
				t.Errorf("window: %+v", w)
			}
			// The control plane is in the paused node too: its API server's outage is a window of its own,
			// overlapping the pause (PerWindow follows run.Windows).
			i := slices.IndexFunc(run.Windows, func(w summary.Window) bool { return w.Name == "pause-node" })
			if st := run.Streams[0]; len(st.PerWindow) != len(run.Windows) || st.PerWindow[i].Failures == 0 {
				t.Errorf("no timeout in the pause window: %+v (windows %+v)", st.PerWindow, run.Windows)
			}
			if !slices.ContainsFunc(run.Windows, func(w summary.Window) bool { return w.Kind == summary.WindowKindOutage }) {
				t.Errorf("the paused node's API server was not seen unreachable: %+v", run.Windows)
			}
			if c := checkOf(run, scenarios.GateNoUnexpectedStatus); c == nil || c.Passed || !slices.Contains(c.Steps, "pause-node") {
				t.Errorf("noUnexpectedStatus does not blame the pause: %+v", c)
			}
			if paused := nodePaused(t, labCluster+"-control-plane"); paused {
				t.Errorf("the node is still paused after the drill")
			}
			return ctx
		}).
		Assess("drill, a broken rollout: the gate fails and blames the restart (last: it leaves the apps broken)", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Demo apps with no readiness probe, a slow start and no drain: restarting app-a under load
			// refuses connections, and noUnexpectedStatus fails (exit 1) naming the step that restarted it.
			run := drill(t, "lab-broken-rollout.yaml", 1)
			if run.Verdict != summary.VerdictFail {
				t.Errorf("verdict %s, want fail", run.Verdict)
			}
			i := run.PhaseIndex("restart-app-a")
			if i < 0 {
				t.Fatal("no restart-app-a phase")
			}
			var fails int64
			for _, st := range run.Streams {
				fails += st.PerPhase[i].Failures
			}
			if fails == 0 {
				t.Errorf("no unexpected response during restart-app-a")
			}
			c := checkOf(run, scenarios.GateNoUnexpectedStatus)
			if c == nil || c.Passed || !slices.Contains(c.Steps, "restart-app-a") {
				t.Fatalf("noUnexpectedStatus did not fail naming restart-app-a: %+v", c)
			}
			t.Logf("restart-app-a: %d unexpected responses; noUnexpectedStatus: %s", fails, c.Summary)
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if rehearsalFailed != "" {
				t.Log(rehearsalFailed)
			}
			deleteKindCluster(t, labCluster)
			// The two-cluster drill's run deletes the cluster it created; should it not have got that far.
			deleteKindCluster(t, secondCluster)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// labCluster is the lab rehearsal's cluster, kept for the drills that run on it after the rehearsal.
const labCluster = "canarygate-e2e-lab"

// secondCluster is the two-cluster drill's second cluster, created and deleted by that drill's run.
const secondCluster = "canarygate-e2e-second"

// drill runs a short scenario from testdata on the kept lab cluster (--reuse-cluster) and returns its
// summary, failing the test unless canarygate exited with want.
func drill(t *testing.T, file string, want int, vars ...string) *summary.Run {
	t.Helper()
	return drillWith(t, file, want, nil, vars...)
}

// drillWith is drill with more flags (image archives for a cluster the drill creates).
func drillWith(t *testing.T, file string, want int, flags []string, vars ...string) *summary.Run {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report")
	var stderr bytes.Buffer
	args := append(drillArgs(t, file, out), flags...)
	for _, v := range vars {
		args = append(args, "--var", v)
	}
	code := cli.Main(args, streams.IO{In: strings.NewReader(""), Out: os.Stdout, ErrOut: &stderr})
	if code != want {
		t.Fatalf("drill %s: canarygate exited %d, want %d: %s\n%s", file, code, want, whyNotPassed(out), stderr.String())
	}
	run, err := summary.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// drillArgs are canarygate's arguments for a drill from testdata on the kept lab cluster, its reports in out.
func drillArgs(t *testing.T, file, out string) []string {
	t.Helper()
	return []string{"run", filepath.Join("testdata", file), "--out", out, "--no-env", "--reuse-cluster",
		"--var", "CLUSTER=" + labCluster, "--var", "NODE_IMAGE=" + nodeImage(t)}
}

// window is the run's window of that name; the test stops without it.
func window(t *testing.T, run *summary.Run, name string) summary.Window {
	t.Helper()
	for _, w := range run.Windows {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no window %s in %+v", name, run.Windows)
	return summary.Window{}
}

// deploymentReplicas reads a Deployment's replicas on the lab cluster, through kind's kubeconfig for it.
func deploymentReplicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	kc, err := kindcluster.NewProvider().KubeConfig(labCluster, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// nodePaused asks the container engine (as kind does, through its exec package) whether a node is paused.
func nodePaused(t *testing.T, node string) bool {
	t.Helper()
	lines, err := kindexec.OutputLines(kindexec.Command("docker", "inspect", "-f", "{{.State.Paused}}", node))
	if err != nil || len(lines) != 1 {
		t.Fatalf("docker inspect %s: %v %v", node, lines, err)
	}
	return lines[0] == "true"
}

// whyNotPassed says, from the summary in dir, what kept a run from passing: its verdict and the reports'
// verdict line (report.Headline: the failures, the failed checks, the harness's error), then every step that
// did not pass with its error (the headline names a failed step, not why).
func whyNotPassed(dir string) string {
	run, err := summary.Read(dir)
	if err != nil {
		return fmt.Sprintf("no summary: %v", err)
	}
	why := []string{"verdict " + run.Verdict + ": " + report.Headline(run)}
	for _, p := range run.Phases {
		if p.Outcome != summary.OutcomePassed && p.Outcome != summary.OutcomeSkipped {
			why = append(why, fmt.Sprintf("step %s %s: %s", p.Name, p.Outcome, p.Error))
		}
	}
	return strings.Join(why, "; ")
}

// checkOf is the run's check of a gate kind, or nil.
func checkOf(run *summary.Run, kind string) *summary.Check {
	for i := range run.Checks {
		if run.Checks[i].Kind == kind {
			return &run.Checks[i]
		}
	}
	return nil
}

// deleteKindCluster deletes a kind cluster through kind's Go API (its kubeconfig entry goes to a throwaway
// file, never the user's), and the kubeconfig directory the run that kept it left for the user
// (canarygate-kind-*, naming this cluster's context): nothing of the suite stays in the temporary directory.
func deleteKindCluster(t *testing.T, name string) {
	t.Helper()
	if err := kindcluster.NewProvider().Delete(name, filepath.Join(t.TempDir(), "kubeconfig")); err != nil {
		t.Errorf("delete kind cluster %s: %v", name, err)
	}
	kubeconfigs, _ := filepath.Glob(filepath.Join(os.TempDir(), "canarygate-kind-*", "kubeconfig"))
	for _, k := range kubeconfigs {
		if b, err := os.ReadFile(k); err == nil && bytes.Contains(b, []byte("name: kind-"+name+"\n")) {
			if err := os.RemoveAll(filepath.Dir(k)); err != nil {
				t.Errorf("remove the kept cluster's kubeconfig directory: %v", err)
			}
		}
	}
}
