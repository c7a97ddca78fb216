// Package plan is `canarygate plan`: show what a scenario will do, with every default filled in.
package plan

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/canarygate/canarygate/cluster/kind"
	"github.com/canarygate/canarygate/internal/cli/load"
	"github.com/canarygate/canarygate/internal/cli/streams"
	"github.com/canarygate/canarygate/internal/exitcode"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/policy"
	"github.com/canarygate/canarygate/scenarios"
)

// NewCommand returns the plan command.
func NewCommand(s streams.IO) *cobra.Command {
	var (
		f      = load.Flags{Lenient: true}
		output string
	)
	cmd := &cobra.Command{
		Use:   "plan SCENARIO",
		Short: "Show every phase and step a scenario will carry out, the objects it touches and the defaults it uses",
		Args:  load.Args(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := f.Scenario(args[0], s.ErrOut)
			if err != nil {
				return err
			}
			for _, w := range sc.NotRunnable {
				fmt.Fprintf(s.ErrOut, "⚠ %v (run refuses this before anything starts)\n", w)
			}
			switch output {
			case "text":
				Write(s.Out, sc)
				return nil
			case "yaml":
				enc := yaml.NewEncoder(s.Out)
				enc.SetIndent(2)
				return enc.Encode(sc)
			default:
				return exitcode.With(exitcode.BadInput, fmt.Errorf("--output %q: expected text or yaml", output))
			}
		},
	}
	f.Add(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, or yaml (the scenario with every default filled in)")
	return cmd
}

// Write prints the plan as text.
func Write(w io.Writer, sc *scenarios.Scenario) {
	fmt.Fprintf(w, "Scenario %s (%s)\n", sc.Name, sc.File)
	if sc.Description != "" {
		fmt.Fprintf(w, "  %s\n", strings.Join(strings.Fields(sc.Description), " "))
	}
	if len(sc.Vars) > 0 {
		fmt.Fprintln(w, "Variables it needs:")
		for _, name := range slices.Sorted(maps.Keys(sc.Vars)) {
			state := "set"
			if slices.Contains(sc.UnsetVars, name) {
				state = "not set: ${" + name + "} below, run needs it"
			}
			fmt.Fprintf(w, "  %s: %s (%s)\n", name, sc.Vars[name], state)
		}
	}
	for _, c := range sc.Clusters {
		fmt.Fprintf(w, "Cluster %s: provider %s%s\n", c.Name, c.Provider, clusterDetail(c))
	}
	supportLine(w, sc)
	if sc.Traffic.None {
		fmt.Fprintln(w, "Traffic: none (traffic: {none: true}): the steps alone are judged")
	} else {
		fmt.Fprintln(w, "Traffic (runs from the warm-up to the end of the cool-down, unless a stream says otherwise):")
	}
	for _, st := range sc.Traffic.Streams {
		host := ""
		if h, ok := st.Headers["Host"]; ok {
			host = " Host: " + h
		}
		conns := fmt.Sprintf("%d idle connections", st.Connections)
		if st.MaxConnections > 0 {
			conns += fmt.Sprintf(", at most %d open", st.MaxConnections)
		}
		if !st.KeepsAlive() {
			conns = "a new connection per request"
		}
		if im := st.InMesh; im != nil {
			// Sent from inside the cluster: the generators' own pace and connections, not this machine's.
			fmt.Fprintf(w, "  %-18s %s %s at %s, timeout %s, success = status %v; from %d generator pod(s) in %s (in-mesh: deployment canarygate-gen-%s, image %s), a new connection per request\n",
				st.Name, st.Method, st.URL, st.Rate, st.Timeout, st.Expect, im.Replicas, im.Namespace, st.Name, im.Image)
			continue
		}
		fmt.Fprintf(w, "  %-18s %s %s%s at %s, timeout %s, success = status %v; at most %d workers, %s%s\n",
			st.Name, st.Method, st.URL, host, st.Rate, st.Timeout, st.Expect, st.MaxWorkers, conns, ownClock(st))
	}
	n := 0
	fmt.Fprintln(w, "Plan:")
	for _, st := range sc.Setup {
		n++
		line(w, n, st)
	}
	if len(sc.Setup) > 0 {
		fmt.Fprintln(w, "      (setup done: traffic starts)")
	}
	n++
	fmt.Fprintf(w, "  %2d. %-28s load only for %s (baseline)\n", n, scenarios.PhaseWarmup, sc.Traffic.Warmup)
	for _, st := range sc.Steps {
		n++
		line(w, n, st)
	}
	n++
	fmt.Fprintf(w, "  %2d. %-28s load only for %s, then traffic stops\n", n, scenarios.PhaseCooldown, sc.Traffic.Cooldown)
	for _, st := range sc.Teardown {
		n++
		line(w, n, st)
	}
	fmt.Fprintln(w, "Checks:")
	for _, g := range sc.Checks {
		fmt.Fprintf(w, "  - %s: %s\n", g.Name, g.Spec.Describe())
	}
	fmt.Fprintf(w, "Reports: %s in %s\n", strings.Join(sc.Report.Formats, ", "), sc.Report.Dir)
}

// ownClock says when a stream on its own clock runs.
func ownClock(st scenarios.Stream) string {
	from := "the warm-up"
	if st.From != "" {
		from = "the start of step " + st.From
	}
	switch {
	case st.Duration > 0:
		return fmt.Sprintf("; on its own clock: %s from %s, whatever the steps do (the cool-down waits for it)", st.Duration, from)
	case st.From != "":
		return "; from " + from + " to the end of the cool-down"
	}
	return ""
}

func line(w io.Writer, n int, st scenarios.Step) {
	flags := []string{"timeout " + st.Timeout.String()}
	if st.ContinueOnError {
		flags = append(flags, "continue on error")
	}
	if _, none := st.Action.(scenarios.Clusterless); st.Cluster != "" && !none {
		if st.Kind == scenarios.ActionRun {
			// The user's own command is handed the cluster's credentials, not the ambient kubeconfig.
			flags = append(flags, "KUBECONFIG of cluster "+st.Cluster)
		} else {
			flags = append(flags, "cluster "+st.Cluster)
		}
	}
	if st.Decides {
		flags = append(flags, "its outcome decides the branch: a failure goes on to the steps that ask for it")
	}
	prefix := ""
	if w := st.When; w != nil {
		branch := ""
		if w.OnFailure() {
			branch = ` (the rollback branch: verdict "rolled back")`
		}
		prefix = fmt.Sprintf("only if %s %s%s: ", w.Step(), w.Outcome(), branch)
	}
	fmt.Fprintf(w, "  %2d. %-28s [%s] %s%s (%s)\n", n, st.Name, st.Kind, prefix, st.Action.Describe(), strings.Join(flags, ", "))
}

// supportLine says on which Kubernetes the scenario's Istio versions are supported together, and warns
// when a kind cluster's node image runs another one: the rehearsal would exercise a different sidecar model
// (native sidecars from 1.33) than users on a supported cluster run.
func supportLine(w io.Writer, sc *scenarios.Scenario) {
	// Each istiod upgrade, with the rule that judges it and where the rule comes from.
	for _, j := range policy.Jumps(sc) {
		r := policy.RuleFor(j.Kind, sc)
		verdict := "allowed"
		if j.Minors() > r.Max {
			verdict = "beyond it (--allow-skip)"
		}
		fmt.Fprintf(w, "Istio %s → %s at step %s: %s upgrade across %d minor version(s), at most %d: %s — %s\n", j.From, j.To, j.Step, j.Kind, j.Minors(), r.Max, verdict, r.Source)
	}
	releases := policy.IstiodReleases(sc)
	if len(releases) == 0 {
		return
	}
	for _, v := range istio.NewerThanTable(releases) {
		fmt.Fprintf(w, "! Istio %s is newer than canarygate's support table: assuming the newest known release's Kubernetes range — check istio.io/latest/docs/releases/supported-releases\n", v)
	}
	lo, hi, err := istio.KubernetesFor(releases)
	if err != nil {
		fmt.Fprintf(w, "Istio %s: %v\n", strings.Join(releases, ", "), err)
		return
	}
	fmt.Fprintf(w, "Istio %s: supported together on Kubernetes 1.%d–1.%d (rehearse on 1.%d)\n", strings.Join(releases, ", "), lo, hi, hi)
	chosen, chosenMinor, chooseErr := policy.NodeImageForPair(releases)
	for _, c := range sc.Clusters {
		if c.Provider != "kind" {
			continue
		}
		image := c.NodeImage
		if image == "" {
			image = kind.DefaultNodeImage
		}
		switch m, ok := kind.NodeImageMinor(image); {
		case image == chosen:
			fmt.Fprintf(w, "  cluster %s: node image %s (kind v0.33.0's Kubernetes 1.%d image, chosen for this pair; clusters[].nodeImage — in the shipped scenarios --var NODE_IMAGE — overrides it)\n", c.Name, image, chosenMinor)
		case ok && (m < lo || m > hi):
			fmt.Fprintf(w, "  ! cluster %s: node image %s runs Kubernetes 1.%d, outside 1.%d–1.%d: set clusters[].nodeImage to a 1.%d image\n", c.Name, image, m, lo, hi, hi)
		case c.NodeImage == "" && chooseErr != nil:
			fmt.Fprintf(w, "  ! cluster %s: %v\n", c.Name, chooseErr)
		}
	}
}

func clusterDetail(c scenarios.Cluster) string {
	var parts []string
	if c.Kubeconfig != "" {
		parts = append(parts, "kubeconfig "+c.Kubeconfig)
	}
	if c.Context != "" {
		parts = append(parts, "context "+c.Context)
	}
	if c.NodeImage != "" {
		parts = append(parts, "node image "+c.NodeImage)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
