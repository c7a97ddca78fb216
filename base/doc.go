// Package base is the home of canarygate's leaf helpers: packages that import nothing of canarygate and that
// packages at every level use — ctxcall (a context for calls that take none: Helm's, kind's), shutdown (what
// an exit at once still does), proc (whether a local process is alive). They live here rather than under
// internal/, which holds the top of the house (the CLI), so that no low package reaches up into it.
package base
