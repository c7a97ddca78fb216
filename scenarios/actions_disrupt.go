package scenarios

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// ActionDisrupt is the disruption step (package disrupt): a fault rehearsed on purpose in the middle of the
// upgrade, always undone.
const ActionDisrupt = "disrupt"

// DisruptAction disrupts one target for a while and then restores it — also when the run is interrupted or
// the step times out. Exactly one target: scaleDown, deletePods, pauseNode or restartAPIServer. Its window (from the
// disruption to the restoration) is on the timeline and in every report beside the steps, with what each
// stream measured in it. There is no network disconnect: reconnecting a kind node can change its address
// and break the cluster for good.
//
// Blocking (the default), the step lasts the disruption; with background it ends once the disruption is in
// place and the window runs on over the next steps ("istiod of the new revision down while demo-a moves"):
// the run waits for it to be restored before the cool-down ends.
//
// On a cluster of provider existing it runs only with the cluster's allowDisruption and the run's
// --allow-disruption flag, both: otherwise the run refuses (exit 2) before anything starts.
type DisruptAction struct {
	Pos Pos `yaml:"-" json:"-"`
	// Duration is how long the target is kept disrupted.
	Duration   Duration `yaml:"duration" json:"duration"`
	Background bool     `yaml:"background,omitempty" json:"background,omitempty"`

	ScaleDown  *ScaleDownTarget  `yaml:"scaleDown,omitempty" json:"scaleDown,omitempty"`
	DeletePods *DeletePodsTarget `yaml:"deletePods,omitempty" json:"deletePods,omitempty"`
	PauseNode  *PauseNodeTarget  `yaml:"pauseNode,omitempty" json:"pauseNode,omitempty"`
	// RestartAPIServer stops the kube-apiserver container of a kind control-plane node; the kubelet starts it
	// again (a static pod). The window lasts at least the duration and until the API server answers again.
	RestartAPIServer *PauseNodeTarget `yaml:"restartAPIServer,omitempty" json:"restartAPIServer,omitempty"`
}

// ScaleDownTarget keeps a Deployment at zero replicas (e.g. istiod of a revision: its pods gone, its Service
// without endpoints), then scales it back to the replicas it had.
type ScaleDownTarget struct {
	Pos        Pos    `yaml:"-" json:"-"`
	Namespace  string `yaml:"namespace" json:"namespace"`
	Deployment string `yaml:"deployment" json:"deployment"`
}

// DeletePodsTarget deletes the pods a selector matches — once, or again every Every while the window lasts
// (their controller re-creates them: "keep them down") — with a grace period of GracePeriodSeconds (default
// 0: killed at once, as a crashed node or an OOM kill would).
type DeletePodsTarget struct {
	Pos       Pos    `yaml:"-" json:"-"`
	Namespace string `yaml:"namespace" json:"namespace"`
	Selector  string `yaml:"selector" json:"selector"`
	// Every repeats the deletion while the window lasts (0, the default: once, at its start).
	Every              Duration `yaml:"every,omitempty" json:"every,omitempty"`
	GracePeriodSeconds int64    `yaml:"gracePeriodSeconds,omitempty" json:"gracePeriodSeconds,omitempty"`
}

// PauseNodeTarget freezes a kind node's container (the container engine's pause: every process in it
// stopped, its network still up), then unpauses it. Node defaults to the cluster's control-plane node.
type PauseNodeTarget struct {
	Pos  Pos    `yaml:"-" json:"-"`
	Node string `yaml:"node,omitempty" json:"node,omitempty"`
}

// MinDeleteEvery is the shortest interval between two deletions of deletePods: faster only loads the API
// server.
const MinDeleteEvery = Duration(500 * time.Millisecond)

// Validate implements ActionSpec.
func (a *DisruptAction) Validate(s *Scenario, p Problems, path string) {
	if a.Duration <= 0 {
		p.Add(a.Pos.Field("duration"), join(path, "duration"), "required: how long the target stays disrupted, a positive duration such as 30s")
	}
	if a.Background && !strings.HasPrefix(path, "steps[") {
		p.Add(a.Pos.Field("background"), join(path, "background"), "only a step under steps may run in the background: setup and teardown wait for what they start")
	}
	n := 0
	if t := a.ScaleDown; t != nil {
		n++
		required(p, t.Pos, join(path, "scaleDown"), "namespace", t.Namespace, "the Deployment's namespace")
		required(p, t.Pos, join(path, "scaleDown"), "deployment", t.Deployment, "the Deployment to keep at zero replicas")
	}
	if t := a.DeletePods; t != nil {
		n++
		at := join(path, "deletePods")
		required(p, t.Pos, at, "namespace", t.Namespace, "the pods' namespace")
		if t.Selector == "" {
			p.Add(t.Pos.Field("selector"), join(at, "selector"), "required: a label selector such as app=istiod,istio.io/rev=1-30 (all pods is never meant)")
		} else if _, err := labels.Parse(t.Selector); err != nil && !Placeholder(t.Selector) {
			p.Add(t.Pos.Field("selector"), join(at, "selector"), "%q is not a label selector: %v", t.Selector, err)
		}
		if t.Every != 0 && t.Every < MinDeleteEvery {
			p.Add(t.Pos.Field("every"), join(at, "every"), "%s: expected 0 (once) or at least %s", t.Every, MinDeleteEvery)
		}
		if t.GracePeriodSeconds < 0 {
			p.Add(t.Pos.Field("gracePeriodSeconds"), join(at, "gracePeriodSeconds"), "%d is negative: expected 0 (killed at once) or more", t.GracePeriodSeconds)
		}
	}
	if a.PauseNode != nil {
		n++
	}
	if a.RestartAPIServer != nil {
		n++
	}
	if n != 1 {
		p.Add(a.Pos, path, "expected exactly one target: scaleDown, deletePods, pauseNode or restartAPIServer (found %d)", n)
	}
}

// Describe implements ActionSpec.
func (a *DisruptAction) Describe() string {
	how := ""
	if a.Background {
		how = ", in the background over the next steps"
	}
	return fmt.Sprintf("disrupt: %s for %s, then restore%s", a.Target(), a.Duration, how)
}

// Target says what is disrupted and how.
func (a *DisruptAction) Target() string {
	switch {
	case a.ScaleDown != nil:
		return fmt.Sprintf("scale deployment %s/%s to 0", a.ScaleDown.Namespace, a.ScaleDown.Deployment)
	case a.DeletePods != nil:
		t := a.DeletePods
		again := "once"
		if t.Every > 0 {
			again = "every " + t.Every.String()
		}
		return fmt.Sprintf("delete pods %s in %s (grace %ds) %s", t.Selector, t.Namespace, t.GracePeriodSeconds, again)
	case a.PauseNode != nil:
		return "pause " + nodeName(a.PauseNode.Node)
	case a.RestartAPIServer != nil:
		return "restart the kube-apiserver of " + nodeName(a.RestartAPIServer.Node)
	}
	return "nothing"
}

func nodeName(n string) string {
	if n == "" {
		return "the control-plane node"
	}
	return n
}

// DefaultTimeout: a blocking disruption lasts its duration, and restoring takes a while more; a background
// one only puts the disruption in place.
func (a *DisruptAction) DefaultTimeout() Duration {
	if a.Background {
		return Duration(time.Minute)
	}
	return a.Duration + Duration(2*time.Minute)
}

// validateDisruptions checks each disrupt step against the cluster it acts on: pauseNode needs a kind node,
// and a cluster of provider existing — somebody's staging cluster — must say it may be disrupted.
func (s *Scenario) validateDisruptions(p Problems) {
	for _, group := range []struct {
		key   string
		steps []Step
	}{{"setup", s.Setup}, {"steps", s.Steps}, {"teardown", s.Teardown}} {
		for i := range group.steps {
			st := &group.steps[i]
			a, ok := st.Action.(*DisruptAction)
			c := s.clusterNamed(st.Cluster)
			if !ok || c == nil {
				continue
			}
			path := fmt.Sprintf("%s[%d].%s", group.key, i, ActionDisrupt)
			if a.PauseNode != nil && c.Provider != "kind" {
				p.Add(a.PauseNode.Pos, join(path, "pauseNode"), "cluster %q is provider %s: pauseNode pauses a kind node's container (expected a cluster of provider kind)", c.Name, c.Provider)
			}
			if a.RestartAPIServer != nil && c.Provider != "kind" {
				p.Add(a.RestartAPIServer.Pos, join(path, "restartAPIServer"), "cluster %q is provider %s: restartAPIServer stops a container in a kind node (expected a cluster of provider kind)", c.Name, c.Provider)
			}
			if c.Provider == "existing" && !c.AllowDisruption {
				p.Add(a.Pos, path, "cluster %q is provider existing: a disruption there needs allowDisruption: true on the cluster (and --allow-disruption on the command line)", c.Name)
			}
		}
	}
}

// clusterNamed is the cluster a step names (the first when it names none), or nil.
func (s *Scenario) clusterNamed(name string) *Cluster {
	for i := range s.Clusters {
		if name == "" || s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}

// ExistingDisrupted lists the clusters of provider existing a disrupt step acts on: run asks for
// --allow-disruption before anything starts.
func (s *Scenario) ExistingDisrupted() []string {
	var out []string
	for st := range s.AllSteps() {
		if st.Kind != ActionDisrupt {
			continue
		}
		if c := s.clusterNamed(st.Cluster); c != nil && c.Provider == "existing" && !slices.Contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}
