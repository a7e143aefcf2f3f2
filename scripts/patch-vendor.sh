#!/usr/bin/env bash
# Apply scripts/patches/*.patch to the tree that `go mod vendor` wrote.
# Our changes to vendored modules live only here, so re-vendoring and
# re-patching must reproduce the committed vendor/ exactly (make vendor-check).
set -euo pipefail
cd "$(dirname "$0")/.."
for p in scripts/patches/*.patch; do
	patch -p1 --forward --silent --no-backup-if-mismatch < "$p" ||
		{ echo "patch-vendor: $p does not apply" >&2; exit 1; }
done
