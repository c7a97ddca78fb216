// Package policy applies Istio's and kind's rules to a scenario before anything runs: which version jumps
// Istio supports for the kind of upgrade the scenario makes (a canary revision beside the old one, or an
// istiod release upgraded in place), and which kind node image every Istio version involved supports. The
// CLI (`validate`, `plan`, `run`) and library callers of harness.Run share it: Resolve.
package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/canarygate/canarygate/cluster/kind"
	"github.com/canarygate/canarygate/istio"
	"github.com/canarygate/canarygate/scenarios"
)

// Upgrade kinds.
const (
	// Canary: a new istiod release (a revision) installed beside the running one.
	Canary = "canary"
	// InPlace: an installed istiod release upgraded to a newer version.
	InPlace = "in-place"
)

// The jumps Istio supports, from its documentation.
const (
	// MaxCanaryJump: "When using revision-based upgrades jumping across two minor versions is supported
	// (e.g. upgrading directly from version 1.8 to 1.10). This is in contrast to in-place upgrades where it is
	// required to upgrade to each intermediate minor release." — istio.io/latest/docs/setup/upgrade/canary/.
	// Istio's own suite rehearses it: TestCanaryUpgradeFromTwoMinorRelease (tests/integration/helm/upgrade).
	MaxCanaryJump = 2
	// MaxInPlaceJump: in-place upgrades go through each intermediate minor release
	// (istio.io/latest/docs/setup/upgrade/in-place/, and the canary page quoted above).
	MaxInPlaceJump = 1
)

// Rule sources, as plan cites them.
const (
	CanarySource  = "istio.io/latest/docs/setup/upgrade/canary: revision-based upgrades may jump two minors"
	InPlaceSource = "istio.io/latest/docs/setup/upgrade/in-place: in-place upgrades go one minor at a time"
)

// ErrUnsupportedJump: a version jump beyond what Istio supports for that kind of upgrade (or beyond the
// scenario's own policy).
var ErrUnsupportedJump = errors.New("upgrade jumps more Istio minor versions than supported")

// Jump is one istiod version change a scenario makes.
type Jump struct {
	From, To istio.Version
	// Kind is Canary or InPlace.
	Kind string
	// Step is the step that makes it; Release the istiod Helm release it installs or upgrades.
	Step, Release string
}

// Minors is how many minor versions the jump crosses (negative for a downgrade, e.g. a rollback).
func (j Jump) Minors() int {
	if j.From.Major != j.To.Major {
		return 100 * (j.To.Major - j.From.Major)
	}
	return j.To.Minor - j.From.Minor
}

// Rule is the largest minor jump allowed for one kind of upgrade, and where that comes from.
type Rule struct {
	Max    int
	Source string
}

// RuleFor is the rule for an upgrade kind under the scenario's policy (which can only tighten Istio's).
func RuleFor(kindOfUpgrade string, s *scenarios.Scenario) Rule {
	r := Rule{Max: MaxCanaryJump, Source: CanarySource}
	if kindOfUpgrade == InPlace {
		r = Rule{Max: MaxInPlaceJump, Source: InPlaceSource}
	}
	if p := s.Policy; p != nil && p.MaxMinorJump > 0 && p.MaxMinorJump < r.Max {
		r = Rule{Max: p.MaxMinorJump, Source: fmt.Sprintf("the scenario's policy.maxMinorJump: %d", p.MaxMinorJump)}
	}
	return r
}

// isIstiodChart: the istiod chart from a repository ("istiod") or from Istio's source tree
// (manifests/charts/istio-control/istio-discovery).
func isIstiodChart(chart string) bool {
	c := path.Base(chart)
	return c == "istiod" || c == "istio-discovery"
}

// Jumps lists the istiod version changes a scenario makes, in step order. An istiod release installed
// while another runs is a canary jump from the newest version running; an istiod release upgraded is an
// in-place jump from its own version. Versions that are not releases (a local chart's "0.0.0-dev") are
// not judged.
func Jumps(s *scenarios.Scenario) []Jump {
	installed := map[string]istio.Version{} // release → version
	var out []Jump
	for st := range s.AllSteps() {
		release, version, upgrade := istiodChange(st)
		v, ok := releaseVersion(version)
		if release == "" || !ok {
			continue
		}
		if old, ok := installed[release]; ok && upgrade {
			out = append(out, Jump{From: old, To: v, Kind: InPlace, Step: st.Name, Release: release})
		} else if newest, ok := newestOf(installed); ok {
			out = append(out, Jump{From: newest, To: v, Kind: Canary, Step: st.Name, Release: release})
		}
		installed[release] = v
	}
	return out
}

// istiodChange is the istiod release a step installs or upgrades, and to which version.
func istiodChange(st *scenarios.Step) (release, version string, upgrade bool) {
	switch a := st.Action.(type) {
	case *scenarios.InstallRevisionAction:
		h := a.Helm()
		return h.Release, h.Version, false
	case *scenarios.HelmAction:
		if isIstiodChart(a.Chart) {
			return a.Release, a.Version, a.Verb() == "upgrade"
		}
	}
	return "", "", false
}

// releaseVersion parses an Istio release version; a chart's development version ("0.0.0-dev", what a chart
// from Istio's source tree declares) is no release and is not judged.
func releaseVersion(s string) (istio.Version, bool) {
	v, err := istio.ParseVersion(s)
	return v, err == nil && v.Major >= 1
}

func newestOf(m map[string]istio.Version) (istio.Version, bool) {
	var out istio.Version
	found := false
	for _, v := range m {
		if !found || v.Major > out.Major || v.Major == out.Major && (v.Minor > out.Minor || v.Minor == out.Minor && v.Patch > out.Patch) {
			out, found = v, true
		}
	}
	return out, found
}

// Check judges every upgrade jump of the scenario against the rule for its kind; the error names the jump,
// its step, the rule and where the rule comes from. Downgrades (a rollback reinstalling the old version)
// are not judged.
func Check(s *scenarios.Scenario) error {
	var errs []error
	for _, j := range Jumps(s) {
		r := RuleFor(j.Kind, s)
		if j.Minors() > r.Max {
			errs = append(errs, fmt.Errorf("%w: step %s: %s upgrade %s → %s crosses %d minor versions, at most %d allowed (%s)",
				ErrUnsupportedJump, j.Step, j.Kind, j.From, j.To, j.Minors(), r.Max, r.Source))
		}
	}
	return errors.Join(errs...)
}

// IstiodReleases lists the Istio release versions of the istiod a scenario installs or upgrades, in step
// order, without repeats; versions that are not releases are left out.
func IstiodReleases(s *scenarios.Scenario) []string {
	var out []string
	for st := range s.AllSteps() {
		release, v, _ := istiodChange(st)
		if _, ok := releaseVersion(v); release != "" && ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// NodeImageForPair is the node image for the given Istio versions: the newest of kind's released node
// images inside the Kubernetes range those versions support together (Istio's support table), and its
// Kubernetes minor.
func NodeImageForPair(releases []string) (string, int, error) {
	if len(releases) == 0 {
		return "", 0, errors.New("no Istio release version to choose a node image for")
	}
	lo, hi, err := istio.KubernetesFor(releases)
	if err != nil {
		return "", 0, err
	}
	return kind.NodeImageFor(lo, hi)
}

// ChooseNodeImages gives every kind cluster whose node image the scenario leaves empty the image to rehearse
// the scenario's Istio versions on (NodeImageForPair), so that 1.28 → 1.29 runs on 1.34 and 1.29 → 1.30 on
// 1.35 without the user looking anything up. Nothing is chosen when there are no release versions, the
// table does not know them or no image is in range: kind's default stays and plan warns.
func ChooseNodeImages(s *scenarios.Scenario) {
	image, _, err := NodeImageForPair(IstiodReleases(s))
	if err != nil {
		return
	}
	for i := range s.Clusters {
		if c := &s.Clusters[i]; c.Provider == "kind" && c.NodeImage == "" {
			c.NodeImage = image
		}
	}
}

// Options loosen the rules.
type Options struct {
	// AllowSkip accepts jumps beyond the rules (the user's explicit choice: --allow-skip).
	AllowSkip bool
}

// Resolve applies the rules to a parsed scenario before it runs: the version jumps are checked (an
// unsupported one is bad input, wrapping ErrUnsupportedJump, unless o.AllowSkip), and kind clusters
// without a node image get the one their Istio versions support.
func Resolve(s *scenarios.Scenario, o Options) error {
	if err := Check(s); err != nil && !o.AllowSkip {
		return err
	}
	ChooseNodeImages(s)
	return nil
}
