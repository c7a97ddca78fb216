package scenarios_test

import (
	"errors"
	_ "github.com/canarygate/canarygate/builtin" // the registered actions and gates
	"github.com/canarygate/canarygate/scenarios"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]scenarios.Rate{
		"50/s": {50, time.Second}, "10/1s": {10, time.Second}, "600/1m": {600, time.Minute},
		"5/100ms": {5, 100 * time.Millisecond}, "20": {20, time.Second}, " 7 / m ": {7, time.Minute},
	} {
		got, err := scenarios.ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0/s", "-1/s", "fast", "5/", "5/0s", "5/-1s", "5/parsec", "1.5/s"} {
		_, err := scenarios.ParseRate(bad)
		assert.Error(t, err, bad)
	}
	assert.InDelta(t, 10.0, scenarios.Rate{600, time.Minute}.PerSecond(), 1e-9)
}

func TestVarsExpand(t *testing.T) {
	t.Setenv("CG_FROM_ENV", "env")
	v := scenarios.Vars{Values: map[string]string{"A": "flag"}, Env: true}
	for in, want := range map[string]string{
		"${A}":               "flag",
		"x${A}y":             "xflagy",
		"${CG_FROM_ENV}":     "env",
		"${MISSING:-dflt}":   "dflt",
		"${MISSING:-}":       "",
		"$${HOME} and $$":    "${HOME} and $",
		"plain $ sign":       "plain $ sign",
		"${A}${CG_FROM_ENV}": "flagenv",
		"${A:-ignored}":      "flag",
	} {
		got, err := v.Expand(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"${MISSING}", "${A", "${1X}", "${}"} {
		_, err := v.Expand(bad)
		assert.Error(t, err, bad)
	}
	_, err := scenarios.Vars{}.Expand("${CG_FROM_ENV}")
	assert.Error(t, err, "the environment is read only when asked")
}

func TestDefaultsAreFilledIn(t *testing.T) {
	s, err := scenarios.Parse("t.yaml", []byte(`
name: d
traffic:
  streams: [{name: a, url: "http://127.0.0.1:1/"}]
steps:
  - {name: s, soak: {duration: 2s}}
  - {name: r, run: {command: "true"}}
  - {name: p, http: {url: "http://127.0.0.1:1/"}}
`), scenarios.Vars{})
	require.NoError(t, err)
	// The values the README documents (its scenario example), not the package's own variables: a changed
	// default must change the documentation too, or this fails — the README's lines are read here.
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	for _, documented := range []string{
		"# load before the first step: the baseline (default 5s)",
		"# load after the last step (default 5s)",
		"or max (as fast as maxWorkers allow) (default 10/s)",
		"# per request (default 5s)",
		"# success statuses (default exactly 200)",
		"timeout: 5m          # default 10m",
	} {
		assert.Contains(t, string(readme), documented, "the README documents the default this test checks")
	}
	st := s.Traffic.Streams[0]
	assert.Equal(t, "GET", st.Method)
	assert.Equal(t, scenarios.Rate{10, time.Second}, st.Rate, "README: rate default 10/s")
	assert.Equal(t, scenarios.Duration(5*time.Second), st.Timeout, "README: timeout default 5s")
	assert.Equal(t, []int{200}, st.Expect, "README: expect default exactly 200")
	assert.Equal(t, scenarios.Duration(5*time.Second), s.Traffic.Warmup, "README: warmup default 5s")
	assert.Equal(t, scenarios.Duration(5*time.Second), s.Traffic.Cooldown, "README: cooldown default 5s")
	assert.Equal(t, scenarios.Duration(62*time.Second), s.Steps[0].Timeout, "a soak's timeout leaves room beyond its duration")
	assert.Equal(t, scenarios.Duration(10*time.Minute), s.Steps[1].Timeout, "README: step timeout default 10m")
	assert.Equal(t, []int{200}, s.Steps[2].Action.(*scenarios.HTTPAction).Expect)
	require.Len(t, s.Checks, 2, "README: default checks noUnexpectedStatus and stepsSucceeded")
	assert.Equal(t, scenarios.GateNoUnexpectedStatus, s.Checks[0].Kind)
	assert.Equal(t, scenarios.GateStepsSucceeded, s.Checks[1].Kind)
	assert.Equal(t, []string{"html", "junit", "json", "markdown", "vegeta"}, s.Report.Formats)
	assert.Equal(t, "canarygate-report", s.Report.Dir, "README: report dir canarygate-report")
}

func TestExplicitZeroWarmupIsKept(t *testing.T) {
	s, err := scenarios.Parse("t.yaml", []byte("name: z\ntraffic:\n  warmup: 0s\n  cooldown: 0s\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\nsteps: [{name: s, soak: {duration: 1s}}]\n"), scenarios.Vars{})
	require.NoError(t, err)
	assert.Zero(t, s.Traffic.Warmup)
	assert.Zero(t, s.Traffic.Cooldown)
}

func TestAllProblemsOfAFileAreReportedAtOnce(t *testing.T) {
	_, err := scenarios.Parse("many.yaml", []byte(`
name: m
traffic:
  warmup: soon
  streams:
    - {name: a, url: "nope", rate: lots, bogus: 1}
steps:
  - {name: s, timeout: -1s, soak: {duration: 1s}}
  - {name: s, soak: {duration: 1s}}
`), scenarios.Vars{})
	require.Error(t, err)
	var ie *scenarios.InvalidError
	require.ErrorAs(t, err, &ie)
	paths := map[string]int{}
	for _, e := range ie.Errors {
		paths[e.Path] = e.Pos.Line
	}
	assert.Equal(t, map[string]int{
		"traffic.warmup":           4,
		"traffic.streams[0].url":   6,
		"traffic.streams[0].rate":  6,
		"traffic.streams[0].bogus": 6,
		"steps[0].timeout":         8,
		"steps[1].name":            9,
	}, paths)
	assert.ErrorAs(t, err, &ie)
	assert.Contains(t, err.Error(), "many.yaml:4:")
}

// shippedVars are the variables a shipped scenario cannot default: the offline lab's are what
// hack/lab-env.sh builds on the machine (without them it names each one: TestLabNeedsItsVariables).
var shippedVars = map[string]map[string]string{
	"istio-lab": {"NODE_IMAGE": "canarygate/kind-node:v1.37.2-test", "ISTIO_CHARTS": "/charts", "OLD_ISTIO_CHARTS": "/old-charts", "OLD_TAG": "old", "NEW_TAG": "new"},
}

func TestShippedScenariosParse(t *testing.T) {
	require.NotEmpty(t, scenarios.Names())
	for _, name := range scenarios.Names() {
		s, err := scenarios.Load(name, scenarios.Vars{Values: shippedVars[name]})
		require.NoError(t, err, name)
		assert.Equal(t, filepath.Join("scenarios", name+".yaml"), s.File)
	}
	_, err := scenarios.Load("no-such-scenario", scenarios.Vars{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "http-example", "lists what is shipped")
}

func TestLabNeedsItsVariables(t *testing.T) {
	_, err := scenarios.Load("istio-lab", scenarios.Vars{})
	require.Error(t, err)
	for v := range shippedVars["istio-lab"] {
		assert.Contains(t, err.Error(), "variable "+v+" is not set: ", "run's error says what it is")
	}
	assert.Contains(t, err.Error(), "variable NEW_TAG is not set: the image tag of NEW's istiod and proxy, built here — hack/lab-env.sh sets it (pass --var NEW_TAG=VALUE")
	// Lenient (validate, plan): checked without them, placeholders left, the unset ones listed.
	sc, err := scenarios.Load("istio-lab", scenarios.Vars{Lenient: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"ISTIO_CHARTS", "NEW_TAG", "NODE_IMAGE", "OLD_ISTIO_CHARTS", "OLD_TAG"}, sc.UnsetVars)
	assert.Equal(t, "${NODE_IMAGE}", sc.Clusters[0].NodeImage)
	assert.Empty(t, sc.NotRunnable, "paths that depend on an unset variable are not checked")
	for v := range shippedVars["istio-lab"] {
		assert.Contains(t, sc.Vars, v, "every variable the lab needs is declared")
	}
}

// A declared variable is named and described; a bad vars block is bad input with file:line; lenient
// parsing never excuses a variable nobody declared.
func TestDeclaredVariables(t *testing.T) {
	const body = "clusters: [{name: c, provider: existing}]\ntraffic: {streams: [{name: s, url: \"${URL}\"}]}\nsteps: [{name: x, soak: {duration: 1s}}]\n"
	_, err := scenarios.Parse("v.yaml", []byte("name: v\nvars: {URL: the target — CI sets it}\n"+body), scenarios.Vars{Lenient: true})
	require.NoError(t, err)
	_, err = scenarios.Parse("v.yaml", []byte("name: v\n"+body), scenarios.Vars{Lenient: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "variable URL is not set: pass --var URL=VALUE", "undeclared: still an error")
	_, err = scenarios.Parse("v.yaml", []byte("name: v\nvars:\n  1URL: x\n  EMPTY: \"\"\n  REF: uses ${X}\n"+body), scenarios.Vars{Lenient: true})
	require.Error(t, err)
	for _, want := range []string{
		`v.yaml:3:3: vars.1URL: "1URL" is not a variable name`,
		"v.yaml:4:10: vars.EMPTY: expected a one-line description of what EMPTY is and who sets it",
		"v.yaml:5:8: vars.REF: a description is written as is: no ${…} inside",
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = scenarios.Parse("v.yaml", []byte("name: v\nvars: [URL]\n"+body), scenarios.Vars{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "v.yaml:2:7: vars: expected a mapping of variable name to a one-line description")
}

// FuzzParse: whatever the bytes, Parse returns a scenario or an *InvalidError, and never panics.
// Run with: go test ./scenarios -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, name := range scenarios.Names() {
		src, _ := scenarios.Source(name)
		f.Add(src)
	}
	files, _ := filepath.Glob("../internal/cli/testdata/invalid/*.yaml")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("name: x\nsteps: [{name: a, check: {latencyP99: {max: 1s, steps: [a]}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenarios.Parse("fuzz.yaml", data, scenarios.Vars{Values: map[string]string{"TARGET": "http://127.0.0.1:1"}})
		if err != nil {
			if ie := (*scenarios.InvalidError)(nil); !errors.As(err, &ie) {
				t.Fatalf("error of unexpected type %T: %v", err, err)
			}
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if s == nil || s.Name == "" || len(s.Steps) == 0 || len(s.Traffic.Streams) == 0 {
			t.Fatalf("a valid scenario lacks what validation requires: %+v", s)
		}
		for _, st := range s.Steps {
			if st.Action == nil || st.Timeout <= 0 {
				t.Fatalf("step %q has no action or timeout", st.Name)
			}
			_ = st.Action.Describe()
		}
	})
}

// Variable expansion reads what users and their environment write: whatever the text, it expands or says
// why not, never panics, and leaves no ${...} of a known variable behind.
// go test ./scenarios -run '^$' -fuzz FuzzVarsExpand
func FuzzVarsExpand(f *testing.F) {
	for _, s := range []string{"${A}", "x${A}y${B:-d}", "$${A}", "${", "${A", "${}", "${A:-${B}}", "$A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := scenarios.Vars{Values: map[string]string{"A": "alpha", "B": "beta"}}
		out, err := v.Expand(s)
		if err != nil {
			return
		}
		if strings.Contains(out, "${A}") && !strings.Contains(s, "${A}") && !strings.Contains(s, "$$") {
			t.Fatalf("%q expanded to %q", s, out)
		}
	})
}

// An xds:/// stream is proxyless gRPC: only in-mesh generators with Istio's grpc-agent injection can make
// its calls, to one Service host:port (one xDS stream per pod, istio/istio#53532); anything else is bad
// input naming the line and field.
func TestXDSStreamsAreInMeshProxylessGeneratorsOfOneTarget(t *testing.T) {
	const head = "name: x\nclusters: [{name: c, provider: existing}]\ntraffic:\n  streams:\n"
	ok := head + `    - {name: a, url: "xds:///app-b.demo-b.svc.cluster.local:7070", inMesh: {namespace: demo-a, replicas: 1, annotations: {inject.istio.io/templates: grpc-agent}}}
steps: [{name: s, soak: {duration: 1s}}]
`
	_, err := scenarios.Parse("ok.yaml", []byte(ok), scenarios.Vars{})
	require.NoError(t, err)
	for name, tc := range map[string]struct{ stream, path, says string }{
		"from the host": {`{name: a, url: "xds:///app-b:7070"}`, "traffic.streams[0].url", "add inMesh"},
		"no injection":  {`{name: a, url: "xds:///app-b:7070", inMesh: {namespace: demo-a, replicas: 1}}`, "traffic.streams[0].inMesh.annotations", "inject.istio.io/templates: grpc-agent"},
		"a path":        {`{name: a, url: "xds:///app-b:7070/Echo", inMesh: {namespace: demo-a, replicas: 1, annotations: {inject.istio.io/templates: grpc-agent}}}`, "traffic.streams[0].url", "host:port"},
		"a POST":        {`{name: a, method: POST, url: "xds:///app-b:7070", inMesh: {namespace: demo-a, replicas: 1, annotations: {inject.istio.io/templates: grpc-agent}}}`, "traffic.streams[0].method", "one gRPC Echo call"},
	} {
		_, err := scenarios.Parse("bad.yaml", []byte(head+"    - "+tc.stream+"\nsteps: [{name: s, soak: {duration: 1s}}]\n"), scenarios.Vars{})
		var ie *scenarios.InvalidError
		require.ErrorAs(t, err, &ie, name)
		require.Len(t, ie.Errors, 1, name)
		assert.Equal(t, tc.path, ie.Errors[0].Path, name)
		assert.Equal(t, 5, ie.Errors[0].Pos.Line, name)
		assert.Contains(t, ie.Errors[0].Error(), tc.says, name)
	}
}

// How a step paces its restarts is said exactly, and what cannot be done is bad input with its line: spacing
// with allAtOnce, spacing one Deployment, spacingAfter without spacing or with an unknown value.
func TestRestartPacingIsDescribedAndValidated(t *testing.T) {
	step := func(restart string) (*scenarios.Scenario, error) {
		return scenarios.Parse("p.yaml", []byte("name: p\ntraffic:\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\nsteps:\n  - name: r\n    restart: "+restart+"\n"), scenarios.Vars{})
	}
	for restart, want := range map[string]string{
		"{namespace: n, deployments: [a, b]}":                                      "rollout restart Deployments n/a, n/b, one at a time, each rollout watched to completion",
		"{namespace: n, deployments: [a]}":                                         "rollout restart Deployments n/a, its rollout watched to completion",
		"{namespace: n, allAtOnce: true}":                                          "rollout restart every Deployment in n but canarygate's generators, all at once, then every rollout watched to completion",
		"{namespace: n, deployments: [a, b], spacing: 20s}":                        "rollout restart Deployments n/a, n/b, one at a time, each rollout watched to completion, then 20s before the next",
		"{namespace: n, deployments: [a, b], spacing: 20s, spacingAfter: restart}": "rollout restart Deployments n/a, n/b, one at a time, 20s between restarts (not waiting for each rollout), every rollout watched at the end",
		"{namespace: n, includeGenerators: true}":                                  "rollout restart every Deployment in n, canarygate's generators included, one at a time, each rollout watched to completion",
		"{namespace: n, spacing: 20s, spacingAfter: rollout}":                      "rollout restart every Deployment in n but canarygate's generators, one at a time, each rollout watched to completion, then 20s before the next",
	} {
		s, err := step(restart)
		require.NoError(t, err, restart)
		assert.Equal(t, want, s.Steps[0].Action.Describe(), restart)
	}
	for restart, want := range map[string]string{
		"{namespace: n, allAtOnce: true, spacing: 20s}":             "p.yaml:6:46: steps[0].restart.spacing: with allAtOnce every Deployment restarts together",
		"{namespace: n, deployments: [a], spacing: 20s}":            "steps[0].restart.spacing: spaces restarts of several Deployments: with one there is nothing to space",
		"{namespace: n, spacingAfter: restart}":                     "steps[0].restart.spacingAfter: without spacing there is no pause for it to place",
		"{namespace: n, spacing: 1s, spacingAfter: sometime}":       `steps[0].restart.spacingAfter: "sometime": expected rollout`,
		"{namespace: n, deployments: [a], includeGenerators: true}": "steps[0].restart.includeGenerators: only without deployments",
	} {
		_, err := step(restart)
		require.Error(t, err, restart)
		assert.Contains(t, err.Error(), want, restart)
	}
}

// A step command this machine lacks leaves the scenario valid (another machine has it) and is listed as what
// keeps it from running here.
func TestACommandNotOnPathIsNotRunnableNotInvalid(t *testing.T) {
	s, err := scenarios.Parse("c.yaml", []byte("name: c\ntraffic:\n  streams: [{name: a, url: \"http://127.0.0.1:1/\"}]\nsteps:\n  - name: mesh\n    run: {command: az-not-installed, args: [aks, mesh, enable]}\n"), scenarios.Vars{})
	require.NoError(t, err)
	require.Len(t, s.NotRunnable, 1)
	assert.Equal(t, `c.yaml:6:11: steps[0].run.command: "az-not-installed" is not found on PATH (expected a program name on PATH or a path to an executable)`, s.NotRunnable[0].Error())
}

// waitFor takes kubectl wait's conditions on any kind; a condition kubectl would refuse is bad input at
// validate, with kubectl's own reason and file:line — nothing runs first.
func TestWaitForKubectlConditionsAreCheckedAtValidate(t *testing.T) {
	const head = "name: w\nclusters: [{name: c, provider: existing}]\ntraffic: {streams: [{name: s, url: \"http://127.0.0.1:1/\"}]}\nsteps:\n"
	ok := []string{
		`{apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: n, condition: "jsonpath={.status.phase}=Ready"}`,
		`{apiVersion: v1, kind: Service, name: lb, namespace: n, condition: "jsonpath={.status.loadBalancer.ingress[0].ip}"}`,
		`{apiVersion: canarygate.test/v1, kind: Widget, selector: tier=mesh, namespace: n, condition: condition=Ready=False}`,
		`{apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: n, condition: delete}`,
	}
	for _, w := range ok {
		sc, err := scenarios.Parse("w.yaml", []byte(head+"  - {name: x, waitFor: "+w+"}\n"), scenarios.Vars{})
		require.NoError(t, err, w)
		assert.Contains(t, sc.Steps[0].Action.Describe(), "(kubectl wait --for)")
	}
	for w, want := range map[string]string{
		`{apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: n, condition: "jsonpath={.status.phase"}`: `w.yaml:5:`,
		`{apiVersion: canarygate.test/v1, kind: Widget, name: w1, namespace: n, condition: "condition="}`:              `steps[0].waitFor.condition: "condition=":`,
		`{apiVersion: canarygate.test/v1, kind: Widget, namespace: n, condition: delete}`:                              `steps[0].waitFor.name: required`,
		`{apiVersion: canarygate.test/v1, kind: Widget, name: a, selector: x=y, namespace: n, condition: delete}`:      `expected a name or a selector, not both`,
		`{apiVersion: canarygate.test/v1, kind: Widget, name: a, namespace: n, condition: rolled}`:                     `"rolled": expected one of [available ready exists gone], or a kubectl wait condition`,
	} {
		_, err := scenarios.Parse("w.yaml", []byte(head+"  - {name: x, waitFor: "+w+"}\n"), scenarios.Vars{})
		require.Error(t, err, w)
		assert.Contains(t, err.Error(), want, w)
	}
}

// A multi-line script is one line of the plan (it broke the numbered list): its first line and how many
// follow. Actions that touch no cluster say so by type, for plan.
func TestPlanLinesOfScriptsAndClusterlessActions(t *testing.T) {
	a := &scenarios.RunAction{Command: "sh", Args: []string{"-c", "kubectl rollout restart deploy -n demo-a\nsleep 20\nkubectl rollout restart deploy -n demo-b\n"}}
	assert.Equal(t, "run sh -c kubectl rollout restart deploy -n demo-a … (2 more line(s))", a.Describe())
	assert.Equal(t, "run ./upgrade.sh 1-30", (&scenarios.RunAction{Command: "./upgrade.sh", Args: []string{"1-30"}}).Describe())
	for _, spec := range []scenarios.ActionSpec{&scenarios.SoakAction{}, &scenarios.HTTPAction{}, &scenarios.CheckAction{}} {
		_, ok := spec.(scenarios.Clusterless)
		assert.True(t, ok, "%T", spec)
	}
	_, ok := scenarios.ActionSpec(&scenarios.RestartAction{}).(scenarios.Clusterless)
	assert.False(t, ok)
	assert.Equal(t, "istiod-cp-1-30 in istio-system-1 (operator revision cp-1-30.istio-system-1)", scenarios.IstiodOf("cp-1-30.istio-system-1", "istio-system"))
	assert.Equal(t, "istiod-1-30 in istio-system", scenarios.IstiodOf("1-30", "istio-system"))
}

// forEach repeats a group of steps per cluster (or item) where it stands: STEP[ITEM] names, ${cluster} and
// the item's variables inside, each step on its item's cluster unless it names one, and a when naming a step
// of the group names that step of the same item. Bad groups are bad input with file:line.
func TestForEachExpandsAGroupPerClusterOrItem(t *testing.T) {
	const head = "name: f\nclusters: [{name: east, provider: existing}, {name: west, provider: existing}]\ntraffic: {streams: [{name: s, url: \"http://127.0.0.1:1/\"}]}\nsteps:\n"
	sc, err := scenarios.Parse("f.yaml", []byte(head+`  - forEach: {clusters: [east, west]}
    steps:
      - {name: label, labelNamespace: {namespaces: ["demo-${cluster}"], set: {istio.io/rev: "1-30"}}}
      - {name: check, check: {noUnexpectedStatus: {}}}
      - {name: fix, when: {failed: check}, soak: {duration: 1s}}
  - {name: after, soak: {duration: 1s}}
`), scenarios.Vars{})
	require.NoError(t, err)
	var names, clusters []string
	for _, st := range sc.Steps {
		names = append(names, st.Name)
		clusters = append(clusters, st.Cluster)
	}
	assert.Equal(t, []string{"label[east]", "check[east]", "fix[east]", "label[west]", "check[west]", "fix[west]", "after"}, names)
	assert.Equal(t, []string{"east", "east", "east", "west", "west", "west", "east"}, clusters, "the item's cluster; after the group, the default")
	assert.Equal(t, []string{"demo-west"}, sc.Steps[3].Action.(*scenarios.LabelNamespaceAction).Namespaces)
	assert.Equal(t, "check[west]", sc.Steps[5].When.Failed)
	assert.True(t, sc.Steps[4].Decides)

	sc, err = scenarios.Parse("f.yaml", []byte(head+`  - forEach: {items: [{cluster: west, NS: a}, {name: second, NS: b}, {NS: c}]}
    steps: [{name: s, labelNamespace: {namespaces: ["${NS}"], set: {x: "y"}}}]
`), scenarios.Vars{})
	require.NoError(t, err)
	assert.Equal(t, "s[west]", sc.Steps[0].Name)
	assert.Equal(t, "west", sc.Steps[0].Cluster)
	assert.Equal(t, "s[second]", sc.Steps[1].Name)
	assert.Equal(t, "s[3]", sc.Steps[2].Name)
	assert.Equal(t, []string{"c"}, sc.Steps[2].Action.(*scenarios.LabelNamespaceAction).Namespaces)

	for group, want := range map[string]string{
		"  - forEach: {clusters: [east], items: [{a: b}]}\n    steps: [{name: s, soak: {duration: 1s}}]\n":           "f.yaml:5:14: steps[0].forEach: expected exactly one of clusters and items",
		"  - forEach: {clusters: []}\n    steps: [{name: s, soak: {duration: 1s}}]\n":                                "steps[0].forEach.clusters: expected a non-empty list of cluster names",
		"  - forEach: {clusters: [east, east]}\n    steps: [{name: s, soak: {duration: 1s}}]\n":                      `item "east" twice`,
		"  - forEach: {clusters: [east]}\n":                                                                          "steps[0].steps: required: the steps to repeat for each item",
		"  - forEach: {clusters: [north]}\n    steps: [{name: s, labelNamespace: {namespaces: [a], set: {x: y}}}]\n": `no cluster named "north" under clusters`,
		"  - forEach: {items: [{1x: y}]}\n    steps: [{name: s, soak: {duration: 1s}}]\n":                            `"1x" is not a variable name`,
	} {
		_, err := scenarios.Parse("f.yaml", []byte(head+group), scenarios.Vars{})
		require.Error(t, err, group)
		assert.Contains(t, err.Error(), want, group)
	}
}

// installRevision and migrateGateway install through Helm: a local chart missing here keeps the scenario
// from running on this machine, as helmInstall's does (validate warns, run refuses) — it ran, and failed
// inside the step.
func TestIstioHelmActionsCheckTheirLocalChart(t *testing.T) {
	const head = "name: c\nclusters: [{name: c, provider: existing}]\ntraffic: {streams: [{name: s, url: \"http://127.0.0.1:1/\"}]}\nsteps:\n"
	for _, step := range []string{
		"  - {name: i, installRevision: {revision: \"1-30\", chart: /no/such/istio-discovery}}\n",
		"  - {name: g, migrateGateway: {from: \"1-29\", to: \"1-30\", chart: /no/such/gateway}}\n",
	} {
		sc, err := scenarios.Parse("c.yaml", []byte(head+step), scenarios.Vars{})
		require.NoError(t, err, step)
		require.Len(t, sc.NotRunnable, 1, step)
		assert.Contains(t, sc.NotRunnable[0].Msg, "no chart directory or archive here", step)
	}
}

func TestPrometheusThresholdsAndWindow(t *testing.T) {
	for in, want := range map[string]scenarios.Threshold{"value < 0.01": {"<", 0.01}, "value<=0.5": {"<=", 0.5}, ">= 99": {">=", 99}, "value != 0": {"!=", 0}} {
		got, err := scenarios.ParseThreshold(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "value", "value < x", "below 0.01", "value =< 1", "value < NaN"} {
		_, err := scenarios.ParseThreshold(bad)
		assert.Error(t, err, bad)
	}
	// Each operator at its boundary, below and above it; NaN holds none.
	for op, want := range map[string][3]bool{
		"<": {true, false, false}, "<=": {true, true, false}, ">": {false, false, true},
		">=": {false, true, true}, "==": {false, true, false}, "!=": {true, false, true},
	} {
		th, err := scenarios.ParseThreshold("value " + op + " 0.5")
		require.NoError(t, err, op)
		assert.Equal(t, want, [3]bool{th.Holds(0.49), th.Holds(0.5), th.Holds(0.51)}, "value %s 0.5 at 0.49, 0.5, 0.51", op)
		assert.False(t, th.Holds(math.NaN()), "a ratio over no requests holds nothing (%s)", op)
	}
	assert.False(t, scenarios.Threshold{Op: "=~", Limit: 1}.Holds(2), "an operator no threshold parses to holds nothing")
	g := &scenarios.Prometheus{Query: "increase(x[$window]) / increase(y[$window])"}
	assert.Equal(t, "increase(x[3s12ms]) / increase(y[3s12ms])", g.Expr(3012*time.Millisecond+400*time.Microsecond))
}
