package checks

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/canarygate/canarygate/scenarios"
	"github.com/canarygate/canarygate/summary"
)

// WebhookObservationPrefix begins the observation key of every webhook the webhooksServe observer watches for
// the gate (its cluster and namespaces: two gates watching differently keep apart); the rest is
// "Kind/configuration/webhook".
func WebhookObservationPrefix(g *scenarios.WebhooksServe) string {
	return "webhooks/" + g.Cluster + "/" + strings.Join(g.Namespaces, ",") + "/"
}

// WebhookState is what the observer records of one webhook at a time: its failure policy and who serves it.
type WebhookState struct {
	// Gone: its configuration (or the webhook in it) no longer exists.
	Gone bool
	// URL: it calls a URL rather than a Service; not judged.
	URL string
	// Policy is the failurePolicy (Fail when unset, as the API defaults it).
	Policy string
	// Service is namespace/name; Watched whether its namespace is one the gate watches.
	Service string
	Watched bool
	// Absent: the Service does not exist. Ready counts its ready endpoints.
	Absent bool
	Ready  int
}

// String is the recorded form: "gone", "url URL", "POLICY ns/name absent", "POLICY ns/name ready N",
// "POLICY ns/name not watched".
func (s WebhookState) String() string {
	switch {
	case s.Gone:
		return "gone"
	case s.URL != "":
		return "url " + s.URL
	case !s.Watched:
		return s.Policy + " " + s.Service + " not watched"
	case s.Absent:
		return s.Policy + " " + s.Service + " " + Absent
	default:
		return fmt.Sprintf("%s %s ready %d", s.Policy, s.Service, s.Ready)
	}
}

// ParseWebhookState reads String's form back.
func ParseWebhookState(v string) (WebhookState, error) {
	if v == "gone" {
		return WebhookState{Gone: true}, nil
	}
	if u, ok := strings.CutPrefix(v, "url "); ok {
		return WebhookState{URL: u}, nil
	}
	f := strings.Fields(v)
	switch {
	case len(f) == 3 && f[2] == Absent:
		return WebhookState{Policy: f[0], Service: f[1], Watched: true, Absent: true}, nil
	case len(f) == 4 && f[2] == "not" && f[3] == "watched":
		return WebhookState{Policy: f[0], Service: f[1]}, nil
	case len(f) == 4 && f[2] == "ready":
		n, err := strconv.Atoi(f[3])
		if err == nil && n >= 0 {
			return WebhookState{Policy: f[0], Service: f[1], Watched: true, Ready: n}, nil
		}
	}
	return WebhookState{}, fmt.Errorf("webhook observation %q: expected gone, url URL, or POLICY NAMESPACE/NAME (absent | ready N | not watched)", v)
}

// unserved says why the webhook is not served in this state ("" when it is, or is not judged).
func (s WebhookState) unserved() string {
	switch {
	case s.Gone || s.URL != "" || !s.Watched:
		return ""
	case s.Absent:
		return "Service " + s.Service + " is gone (failurePolicy " + s.Policy + ")"
	case s.Ready == 0 && s.Policy == "Fail":
		return "Service " + s.Service + " has no ready endpoint (failurePolicy Fail: requests refused)"
	}
	return ""
}

// WebhooksServe judges webhooksServe from the observer's record of every Istio webhook (registered, with the
// observer, by the package that watches the cluster): each stretch a webhook was unserved — from the first
// unserved state to the next served one, whatever changed in between (its endpoints gone, then its Service) —
// longer than the grace period fails the gate, naming the webhook, the window and the step it began in, unless
// the webhook was created in that step and served by its end (its istiod starting). A gate that judged no
// webhook (none observed, or none naming a watched Service) fails: nothing shows one served.
func WebhooksServe(g *scenarios.WebhooksServe, run *summary.Run) summary.Check {
	j := webhookJudge{g: g, run: run, c: summary.Check{Passed: true}, grace: float64(g.Grace.D().Milliseconds())}
	// The observer watched while traffic ran: until the last phase that ran and is not teardown ended (steps
	// not run are placed at the run's end and say nothing of when traffic stopped).
	for _, p := range run.Phases {
		if p.Kind != "teardown" && p.Ran() {
			j.end = max(j.end, p.EndMs)
		}
	}
	prefix := WebhookObservationPrefix(g)
	var keys []string
	for k := range run.Observations {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		j.webhook(strings.TrimPrefix(k, prefix), run.Observations[k])
	}
	c := j.c
	if len(j.ignoredUnserved) > 0 {
		c.Evidence = append(c.Evidence, "with failurePolicy Ignore and no ready endpoint at some time (requests passed unvalidated, not failed): "+strings.Join(j.ignoredUnserved, ", "))
	}
	if len(j.notWatched) > 0 {
		c.Evidence = append(c.Evidence, fmt.Sprintf("naming a Service outside %s, not judged: %s", strings.Join(g.Namespaces, ", "), strings.Join(j.notWatched, ", ")))
	}
	switch {
	case j.judged == 0:
		c.Passed = false
		c.Summary = fmt.Sprintf("no Istio webhook (istio.io/rev) naming a Service in %s was observed: nothing shows one served", strings.Join(g.Namespaces, ", "))
	case len(j.failed) > 0 || len(j.flipped) > 0:
		var parts []string
		if len(j.failed) > 0 {
			parts = append(parts, "webhook not served: "+strings.Join(j.failed, "; "))
		}
		if len(j.flipped) > 0 {
			parts = append(parts, "failurePolicy flipped Fail → Ignore: "+strings.Join(j.flipped, "; "))
		}
		c.Summary = strings.Join(parts, "; ")
	case c.Passed:
		c.Summary = fmt.Sprintf("%d Istio webhook(s) served throughout (never unserved longer than %s)", j.judged, g.Grace.D())
	default:
		c.Summary = "webhook observations could not be read"
	}
	return c
}

// webhookJudge walks each webhook's observations for WebhooksServe.
type webhookJudge struct {
	g                                *scenarios.WebhooksServe
	run                              *summary.Run
	c                                summary.Check
	end, grace                       float64
	judged                           int
	failed, flipped, ignoredUnserved []string
	notWatched                       []string
}

// stepAt is the step running at atMs, or -1 (warm-up, cool-down, before the first phase).
func (j *webhookJudge) stepAt(atMs float64) int {
	if p := phaseAt(j.run, atMs); p >= 0 && j.run.Phases[p].IsStep() {
		return p
	}
	return -1
}

// webhook judges one webhook's observations, stretch by stretch.
func (j *webhookJudge) webhook(name string, obs []summary.Observation) {
	// The step the webhook appeared in, when it appeared during one (the observer records what exists when
	// traffic starts, in the warm-up: those were created before); again when it is re-created.
	created := j.stepAt(obs[0].AtMs)
	counted, prevGone := false, false
	since, why := -1.0, "" // the open unserved stretch: when it began and (the latest) why
	var last, policy string
	for _, o := range obs {
		st, err := ParseWebhookState(o.Value)
		if err != nil {
			j.c.Passed = false
			j.c.Evidence = append(j.c.Evidence, name+": "+err.Error())
			continue
		}
		last = o.Value
		if prevGone && !st.Gone {
			created = j.stepAt(o.AtMs)
			policy = "" // re-created: its chart's policy again, until istiod patches it
		}
		prevGone = st.Gone
		if st.Policy != "" {
			j.flip(name, policy, st.Policy, o.AtMs)
			policy = st.Policy
		}
		counted = counted || (st.Watched && !st.Gone)
		if !st.Watched && !st.Gone && st.URL == "" && !slices.Contains(j.notWatched, name) {
			j.notWatched = append(j.notWatched, name)
		}
		w := st.unserved()
		if w == "" {
			if since >= 0 {
				j.stretch(name, why, since, o.AtMs, created)
				since = -1
			}
			if !st.Gone && st.URL == "" && st.Watched && st.Ready == 0 && !slices.Contains(j.ignoredUnserved, name) {
				j.ignoredUnserved = append(j.ignoredUnserved, name)
			}
			continue
		}
		if since < 0 {
			since = o.AtMs
		}
		why = w // "gone" says more than "no ready endpoint"
	}
	if since >= 0 {
		j.stretch(name, why, since, j.end, created)
	}
	if counted {
		j.judged++
	}
	j.c.Evidence = append(j.c.Evidence, fmt.Sprintf("%s: %d observation(s), last %s", name, len(obs), last))
}

// flip judges a change of a live webhook's failurePolicy. Istio intends Fail once the webhook is served: its
// charts create the validators with Ignore and istiod's webhook controller patches them to Fail when it
// serves (manifests/charts/base/templates/defaultrevision-validatingwebhookconfiguration.yaml,
// pilot/pkg/webhooks/validation/controller); injectors are Fail from the start. A webhook going back from
// Fail to Ignore while it exists — two controllers fighting over it, a chart upgrade rewriting it
// (istio/istio#59760, #59367, #61614) — lets admissions through unvalidated or uninjected: failed, naming
// the webhook, when and the step. Ignore → Fail is the intended patch.
func (j *webhookJudge) flip(name, from, to string, atMs float64) {
	if from != "Fail" || to != "Ignore" {
		return
	}
	if atMs > j.end {
		return // after traffic ended (teardown): not the rehearsal's
	}
	j.c.Passed = false
	p := phaseAt(j.run, atMs)
	blame(&j.c, j.run, []int{p})
	in := ""
	if p >= 0 {
		in = fmt.Sprintf(", in %q", j.run.Phases[p].Name)
	}
	j.c.Evidence = append(j.c.Evidence, fmt.Sprintf("%s: failurePolicy flipped Fail → Ignore at %.1fs%s: admissions it should judge pass unjudged whenever it cannot answer (Istio sets Fail once the webhook serves)", name, atMs/1000, in))
	j.flipped = append(j.flipped, fmt.Sprintf("%s (at %.1fs%s)", name, atMs/1000, in))
}

// stretch judges one unserved stretch of a webhook, from..to (capped at the end of traffic).
func (j *webhookJudge) stretch(name, why string, from, to float64, created int) {
	to = min(to, j.end)
	if to-from <= j.grace {
		return
	}
	p := phaseAt(j.run, from)
	in := ""
	if p >= 0 {
		in = fmt.Sprintf(", from %q", j.run.Phases[p].Name)
	}
	if p >= 0 && p == created && to <= j.run.Phases[p].EndMs+j.grace {
		j.c.Evidence = append(j.c.Evidence, fmt.Sprintf("%s: %s from %.1fs to %.1fs, while the step that created it ran (%q): allowed", name, why, from/1000, to/1000, j.run.Phases[p].Name))
		return
	}
	j.c.Passed = false
	blame(&j.c, j.run, []int{p})
	j.c.Evidence = append(j.c.Evidence, fmt.Sprintf("%s: %s from %.1fs to %.1fs (%.1fs, longer than %s%s)", name, why, from/1000, to/1000, (to-from)/1000, j.g.Grace.D(), in))
	j.failed = append(j.failed, fmt.Sprintf("%s (%.1fs%s)", name, (to-from)/1000, in))
}

// StalledBy explains a failed step from the webhook observations (the same record webhooksServe judges, so
// one mechanism names the webhook): each webhook with failurePolicy Fail that could not be served while the
// step ran refused the admissions the step needed — a rollout's new pods, with the injector's istiod down —
// and each disruption window the step overlapped is named with it. Empty when no webhook was unserved then
// (or none was observed: the scenario has no webhooksServe gate).
func StalledBy(run *summary.Run, phase int) []string {
	p := run.Phases[phase]
	what, rollout := "failed while", p.Action == scenarios.ActionRestart || p.Action == scenarios.ActionMoveNamespace
	if rollout {
		// A rollout creates pods: of Istio's webhooks only the injectors (mutating) judge those; a validator
		// unserved at the same time (Istio's covers its own resources) did not stall it.
		what = "rollout stalled:"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(run.Observations)) {
		if !strings.HasPrefix(k, "webhooks/") {
			continue
		}
		parts := strings.Split(k, "/")
		if len(parts) < 6 {
			continue
		}
		config := parts[len(parts)-2]
		if rollout && parts[len(parts)-3] != "MutatingWebhookConfiguration" {
			continue
		}
		for _, s := range unservedStretches(run.Observations[k], run.DurationMs) {
			if s.from >= p.EndMs || s.to <= p.StartMs {
				continue
			}
			msg := fmt.Sprintf("%s webhook %s %s from %.1fs to %.1fs", what, config, s.why, s.from/1000, s.to/1000)
			if ws := run.WindowLabels(max(s.from, p.StartMs), min(s.to, p.EndMs)); ws != "" {
				msg += ", during " + ws
			}
			if !slices.Contains(out, msg) {
				out = append(out, msg)
			}
		}
	}
	return out
}

type unservedStretch struct {
	from, to float64
	why      string
}

// unservedStretches are the spans a webhook with failurePolicy Fail refused admissions (no ready endpoint,
// or its Service gone), until end when the last one never closed.
func unservedStretches(obs []summary.Observation, end float64) []unservedStretch {
	var out []unservedStretch
	open := -1
	for _, o := range obs {
		st, err := ParseWebhookState(o.Value)
		refused := err == nil && st.Policy == "Fail" && st.Watched && !st.Gone && (st.Absent || st.Ready == 0)
		switch {
		case refused && open < 0:
			why := "has no ready endpoint (Service " + st.Service + ", failurePolicy Fail)"
			if st.Absent {
				why = "has no Service (" + st.Service + " is gone, failurePolicy Fail)"
			}
			out = append(out, unservedStretch{from: o.AtMs, to: end, why: why})
			open = len(out) - 1
		case !refused && open >= 0:
			out[open].to = o.AtMs
			open = -1
		}
	}
	return out
}
