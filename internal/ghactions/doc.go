// Package ghactions speaks GitHub Actions' workflow commands: the annotations `canarygate run` and `validate`
// write when GITHUB_ACTIONS=true (one `::error` per failed check, per failed step, per problem of a scenario
// file with its file:line:col), a `::group::` per step in the log, and step outputs. GitHub parses these lines
// from a step's stdout and stderr; everything in them is escaped by its rules (docs: workflow commands,
// @actions/core's command.ts), so a message cannot end its own command or forge another.
package ghactions
