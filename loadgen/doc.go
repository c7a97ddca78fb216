// Package loadgen drives the rehearsal's traffic with vegeta: one attacker per stream at a constant rate with
// keep-alive, fanned into one result channel. Results are streamed, never kept: Aggregate folds them into
// bounded per-phase and per-second statistics, and a vegeta Encoder writes them to the results file that
// `vegeta report` and `vegeta plot` read. Memory grows with the run's length in seconds, not with requests.
//
// The package knows nothing of the CLI: no flags, signals or exits. Attacks stop when their context ends.
package loadgen
