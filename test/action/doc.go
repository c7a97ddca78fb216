// Package action tests action.yml as GitHub runs it: the composite action's `run:` blocks, taken verbatim
// from the file, in a copy of the repository laid out as the runner lays out a fetched action (no .git, under
// _actions/OWNER/REPO/REF), with the runner's files and variables standing in for GitHub's. The package has
// no code of its own.
package action
