// Package loadgen drives the rehearsal's traffic with vegeta: one attacker per stream at a constant rate with
// keep-alive, fanned into one result channel. Results are streamed, never kept: the caller folds them
// (package aggregate) and writes them to the results file that `vegeta report` and `vegeta plot` read.
//
// The package knows nothing of the CLI: no flags, signals or exits. Attacks stop when their context ends.
package loadgen
