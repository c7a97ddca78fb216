// Package e2e is canarygate's own kind end-to-end suite (sigs.k8s.io/e2e-framework): it rehearses the
// default scenario on a real kind cluster with real Istio and assesses the verdict and the reports. It needs
// a container engine, so it runs only when CANARYGATE_E2E=1 (the e2e workflow and .ci/run set it) and skips
// with a clear message otherwise; with CANARYGATE_E2E=1 and no engine it fails. On a machine with no
// registry (CANARYGATE_OFFLINE=1) the offline tests run: a cluster from the node image hack/kind-node-image.sh
// builds, and the istio-lab scenario with istiod built from source (hack/lab-env.sh).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/canarygate/canarygate/cluster/kind"
	"github.com/canarygate/canarygate/internal/cli"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/summary"
)

var testenv env.Environment

// envMain makes the test binary canarygate itself (cli.Main on its arguments): the drill that is interrupted
// runs it as a child process, to send it SIGINT as a user's Ctrl-C would.
const envMain = "CANARYGATE_E2E_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envMain) == "1" {
		os.Exit(cli.Main(os.Args[1:], streams.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
	}
	// The suite runs canarygate in this process, on its stdout: in a GitHub Actions job (e2e.yml) it would
	// otherwise annotate the job with the failures the tests provoke on purpose.
	os.Unsetenv("GITHUB_ACTIONS")
	testenv = env.NewWithConfig(envconf.New())
	os.Exit(testenv.Run(m))
}

func skipUnlessE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the kind e2e suite creates clusters")
	}
	if os.Getenv("CANARYGATE_E2E") != "1" {
		t.Skip("kind e2e suite: set CANARYGATE_E2E=1 to run it (it creates a kind cluster and installs Istio)")
	}
	// Asked to run and unable to: that is a failure, not a skip — a skipped suite reads as green.
	if _, _, err := kind.DetectEngine(context.Background()); err != nil {
		t.Fatalf("kind e2e suite: CANARYGATE_E2E=1 but %v", err)
	}
}

func TestDefaultScenarioOnKind(t *testing.T) {
	skipUnlessE2E(t)
	if os.Getenv("CANARYGATE_OFFLINE") == "1" {
		// The default scenario pulls Istio's charts and images from their registries; a machine with none
		// runs the offline lab instead (TestLabScenarioOnKind).
		t.Skip("CANARYGATE_OFFLINE=1: no registry for Istio's charts and images; the offline lab runs instead")
	}
	out := t.TempDir()
	var code int
	var stderr bytes.Buffer
	f := features.New("Istio canary upgrade under load").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			// The demo app's image archive, built as make demo-image builds it.
			bin := filepath.Join(out, "demo-app")
			cmd := exec.Command("go", "build", "-o", bin, "github.com/canarygate/canarygate/cmd/demo-app")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build demo app: %v\n%s", err, b)
			}
			return ctx
		}).
		Assess("the rehearsal passes every gate", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			archive := filepath.Join(out, "demo-app.tar")
			if c := cli.Main([]string{"image-archive", "--binary", filepath.Join(out, "demo-app"), "--ref", "docker.io/canarygate/demo-app:dev", "--out", archive}, streams.Std()); c != 0 {
				t.Fatalf("image archive: exit %d", c)
			}
			code = cli.Main([]string{"run", "istio-canary", "--out", filepath.Join(out, "report"), "--image-archive", archive, "--var", "CLUSTER=canarygate-e2e"},
				streams.IO{In: strings.NewReader(""), Out: os.Stdout, ErrOut: &stderr})
			if code != 0 {
				t.Errorf("canarygate exited %d\n%s", code, stderr.String())
			}
			return ctx
		}).
		Assess("the reports agree with the verdict", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			run, err := summary.Read(filepath.Join(out, "report"))
			if err != nil {
				t.Fatal(err)
			}
			if run.Verdict != summary.VerdictPass || run.TotalFailures() != 0 || run.TotalRequests() == 0 {
				t.Errorf("verdict %s, %d requests, %d unexpected", run.Verdict, run.TotalRequests(), run.TotalFailures())
			}
			for _, f := range []string{"report.html", "junit.xml", "summary.md", "results.bin"} {
				if _, err := os.Stat(filepath.Join(out, "report", f)); err != nil {
					t.Errorf("report %s: %v", f, err)
				}
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			// The run deletes its cluster; say so if it did not.
			if code == 0 {
				return ctx
			}
			fmt.Fprintln(os.Stderr, "the run failed: see the report for the kept cluster, if any")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
