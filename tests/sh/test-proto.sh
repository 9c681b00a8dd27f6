#!/bin/sh
# test-proto.sh: run test-proto.py (the raw worker-protocol tests and the
# Guix dialect) for tests/run-all.sh, which runs every test-*.sh with sh.
command -v python3 >/dev/null 2>&1 || {
	echo "not ok 1 - python3 not found (scripts/setup-debian.sh installs it)"
	exit 1
}
exec python3 "$(dirname "$0")/test-proto.py" "$@"
