#!/bin/sh
# The README's test command: set up (unless --no-setup), then run every
# test.  Ends with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
[ "${1:-}" = --no-setup ] || scripts/setup-debian.sh
exec tests/run-all.sh
