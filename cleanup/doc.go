// Package cleanup removes what canarygate's harness created in a cluster and a run did not remove itself —
// a run that crashed, was killed (SIGKILL, a second signal past its deadline) or lost the API server while
// draining: the in-mesh generators' Deployments and ServiceAccounts (package meshload; their ReplicaSets and
// pods go with the Deployments, by the garbage collector). It finds them by label alone
// (app.kubernetes.io/managed-by=canarygate, and canarygate.dev/run=ID for one run's), on the kinds the
// harness creates and no other, so nothing a user made — even of the same kinds, in the same namespaces — is
// touched.
//
// What the scenario's steps did is out of scope on purpose: a revision tag's webhook and Service (setTag),
// Helm releases of istiod or gateways, applied manifests, relabelled namespaces are the upgrade itself — the
// end state the user asked for, not an artifact of the rehearsal — and removing them would undo the upgrade
// on a cluster someone cares about. Steps that must be undone belong in the scenario's teardown.
package cleanup
