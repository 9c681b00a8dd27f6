#!/bin/sh
# test-fod-escape.sh: a fixed-output builder that hands descriptors of its
# output and build directory to a process outside cannot change the store
# or the next build.  The work is in test-fod-escape.py.
command -v python3 >/dev/null 2>&1 || {
	echo "not ok 1 - python3 not found (scripts/setup-debian.sh installs it)"
	exit 1
}
exec python3 "$(dirname "$0")/test-fod-escape.py" "$@"
