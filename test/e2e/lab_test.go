package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
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
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
