#!/usr/bin/env bash
# Fails when `go mod tidy` would change go.mod or go.sum (a dependency added by hand, or one left behind).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp go.mod go.sum "$tmp/"
go mod tidy
if ! diff -q "$tmp/go.mod" go.mod >/dev/null || ! diff -q "$tmp/go.sum" go.sum >/dev/null; then
  diff -u "$tmp/go.mod" go.mod || true
  cp "$tmp/go.mod" "$tmp/go.sum" .
  echo "go mod tidy would change go.mod/go.sum: run it and commit the result" >&2
  exit 1
fi
