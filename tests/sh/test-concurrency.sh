#!/bin/sh
# test-concurrency.sh: many clients and parallel builds against a private
# frx-daemon: the build graph in order and in parallel, one build for two
# clients of the same derivation, a build-user pool smaller than the
# builds (they queue), time limits, a client that hangs up, a daemon
# killed mid-build and restarted, logs and kept build directories.
# The work is in test-concurrency.py; this wrapper is for run-all.sh.
command -v python3 >/dev/null 2>&1 || {
	echo "not ok 1 - python3 not found (scripts/setup-debian.sh installs it)"
	exit 1
}
exec python3 "$(dirname "$0")/test-concurrency.py" "$@"
