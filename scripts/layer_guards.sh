#!/usr/bin/env bash
# The layering rules of docs/ARCHITECTURE.md, checked on the dependency graph (normal
# dependencies only; tests may use anything):
#
#   candor-domain  no axum, no sqlx, no tokio: pure rules, no I/O
#   candor-app     no axum, no sqlx: the use cases know neither HTTP nor a database
#
# Fails naming the path by which a forbidden crate came in.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
forbid() {
  local crate="$1" dep="$2" tree
  # Every crate `crate` builds with, one per line ("name vX.Y.Z"); a failure of cargo
  # itself stops the script (set -e), so the guard cannot pass by not looking.
  tree="$(cargo tree --quiet -e normal -p "$crate" --prefix none --format '{p}')"
  if grep -q "^$dep v" <<<"$tree"; then
    echo "layer guard: $crate must not depend on $dep, but does:" >&2
    cargo tree --quiet -e normal -p "$crate" -i "$dep" | sed 's/^/    /' >&2
    status=1
  else
    echo "ok: $crate does not depend on $dep ($(sort -u <<<"$tree" | wc -l) crates checked)"
  fi
}

forbid candor-domain axum
forbid candor-domain sqlx
forbid candor-domain tokio
forbid candor-app axum
forbid candor-app sqlx
exit "$status"
