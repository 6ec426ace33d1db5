#!/bin/sh
# build.sh: builds harvestd from a fresh clone and runs it or its tests.
#
#   ./build.sh start [harvestd flags]   build, then run the daemon in the
#                                       foreground (./harvestd.db, API on
#                                       127.0.0.1:8080 unless flags say else)
#   ./build.sh check                    build, then run the whole test suite
#   ./build.sh build                    build only
#
# Missing Debian packages are installed with apt-get when run as root;
# otherwise the script prints the apt-get command to run.
set -eu
cd "$(dirname "$0")"

PACKAGES="gcc make autoconf automake pkg-config libev-dev
libcurl4-openssl-dev libmicrohttpd-dev libsqlite3-dev libcmocka-dev
libjansson-dev libinih-dev libsystemd-dev libxml2-dev libpsl-dev
publicsuffix libpcre2-dev zlib1g-dev sqlite3 python3 curl openssl
libpq-dev postgresql"

install_deps() {
	missing=""
	for p in $PACKAGES; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "ok installed"; then
			missing="$missing $p"
		fi
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: missing packages:$missing" >&2
		echo "build.sh: run: sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "build.sh: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
}

build() {
	install_deps
	[ -x configure ] || autoreconf -fi
	[ -f Makefile ] || ./configure
	make -j"$(nproc)"
}

# Prints "N passed, N failed" from automake's test-suite.log.
totals() {
	awk '/^# PASS:/ { p = $3 }
	     /^# (FAIL|ERROR|XPASS):/ { f += $3 }
	     END { printf "%d passed, %d failed\n", p, f }' "$1"
}

cmd=${1:-start}
[ $# -gt 0 ] && shift
case $cmd in
start)
	build
	exec ./harvestd "$@"
	;;
check)
	build
	status=0
	make -j"$(nproc)" check || status=$?
	if [ -f test-suite.log ]; then
		[ $status -eq 0 ] || cat test-suite.log
		totals test-suite.log
	fi
	exit $status
	;;
build)
	build
	;;
*)
	echo "usage: ./build.sh start [harvestd flags] | check | build" >&2
	exit 2
	;;
esac
