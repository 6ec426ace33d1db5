#!/bin/sh
# The PostgreSQL backend's tests (make check): starts a throwaway server
# (tests/pgserver.sh), runs the store conformance suite (test_store)
# against it, then the shared-database tests (test_store_pg), and stops
# the server. Fails — never skips — when no server can be started: CI
# installs PostgreSQL, and a backend that is not tested is not known to
# work.
set -u
srcdir=${HARVESTD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=$(pwd)

# Milliseconds, for the timings in the log (GNU date; else seconds).
now_ms() {
	t=$(date +%s%N 2>/dev/null)
	case $t in
	*N*|"") echo $(( $(date +%s) * 1000 )) ;;
	*) echo $(( t / 1000000 )) ;;
	esac
}

start=$(now_ms)
if ! uri=$(sh "$srcdir/tests/pgserver.sh" start); then
	echo "test_store_pg.sh: could not start PostgreSQL" >&2
	exit 1
fi
dir=$(sh "$srcdir/tests/pgserver.sh" dir "$uri")
trap 'sh "$srcdir/tests/pgserver.sh" stop "$dir"' EXIT
trap 'exit 1' INT TERM
echo "PostgreSQL: $uri (started in $(( $(now_ms) - start )) ms)"

HARVESTD_TEST_PG=$uri
export HARVESTD_TEST_PG
status=0
for t in test_store test_store_pg; do
	t0=$(now_ms)
	"$builddir/tests/unit/$t" || status=1
	echo "$t: $(( $(now_ms) - t0 )) ms"
done
exit $status
