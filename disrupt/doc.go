// Package disrupt is the disrupt step: a fault rehearsed on purpose in the middle of an upgrade — istiod of
// a revision kept down, pods killed without grace, a kind node paused — and always undone, also when the step
// times out or the run is interrupted. "Does my data plane keep serving if istiod-NEW dies mid-rollout?" is a
// question no upgrade tool lets a user rehearse; here it is one step.
//
// The disruption's window is opened on the run's timeline before the fault is put in place, so every result
// sent while it is in effect counts in the window (and in its step); it closes once the target is restored.
// A target that could not be restored is the harness's failure (the verdict "error"): the cluster may be
// left disrupted, and the report says how.
package disrupt
