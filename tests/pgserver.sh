#!/bin/sh
# pgserver.sh: a throwaway PostgreSQL server for one test run.
#
#   tests/pgserver.sh start    starts one in a new temporary directory and
#                              prints its connection URI (database
#                              "harvest", user "postgres") on stdout
#   tests/pgserver.sh stop DIR stops the server of DIR and removes DIR
#   tests/pgserver.sh restart DIR
#                              restarts the server of DIR (pg_ctl restart:
#                              every connection is cut)
#   tests/pgserver.sh dir URI  prints the DIR of a URI start printed
#
# The server listens on a Unix socket in its own directory only
# (listen_addresses = ''), so runs never collide, also when several run
# at once as root (unlike pg_virtualenv). initdb refuses to run as root:
# as root the server runs as the postgres user, in a directory it owns.
# Trust authentication: only who can reach the directory can connect.
set -eu

die() {
	echo "pgserver.sh: $*" >&2
	exit 1
}

# The server binaries: pg_config's, else the newest Debian installs.
bindir() {
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	die "no PostgreSQL server found (initdb, pg_ctl): apt-get install postgresql"
}

# Runs a command as the server's user.
as_server() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	bin=$(bindir)
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 ||
		    die "running as root needs the postgres user (apt-get install postgresql)"
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/harvestd-pg.XXXXXX")
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	if ! as_server "$bin/initdb" -D "$dir/data" -U postgres -A trust \
	    -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		die "initdb failed"
	fi
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
max_connections = 50
shared_buffers = 16MB
log_min_messages = warning
EOF
	if ! as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
	    -t 60 start >"$dir/pg_ctl.log" 2>&1; then
		cat "$dir/pg_ctl.log" "$dir/server.log" >&2 || true
		as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop \
		    >/dev/null 2>&1 || true
		rm -rf "$dir"
		die "the server did not start"
	fi
	if ! "$bin/psql" -X -q -h "$dir" -U postgres -d postgres \
	    -c "CREATE DATABASE harvest" >"$dir/createdb.log" 2>&1; then
		cat "$dir/createdb.log" >&2
		stop "$dir"
		die "CREATE DATABASE failed"
	fi
	echo "postgresql:///harvest?host=$dir&user=postgres"
}

stop() {
	dir=$1
	case $dir in
	*/harvestd-pg.*) ;;
	*) die "stop: $dir is not a directory start made" ;;
	esac
	[ -d "$dir" ] || return 0
	bin=$(bindir)
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
		    >/dev/null 2>&1 ||
		as_server "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop \
		    >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

restart() {
	dir=$1
	case $dir in
	*/harvestd-pg.*) ;;
	*) die "restart: $dir is not a directory start made" ;;
	esac
	bin=$(bindir)
	as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast \
	    -w -t 60 restart >"$dir/pg_ctl.log" 2>&1 ||
	    { cat "$dir/pg_ctl.log" >&2; die "restart failed"; }
}

cmd=${1:-}
case $cmd in
start)
	start
	;;
stop)
	[ $# -eq 2 ] || die "usage: pgserver.sh stop DIR"
	stop "$2"
	;;
restart)
	[ $# -eq 2 ] || die "usage: pgserver.sh restart DIR"
	restart "$2"
	;;
dir)
	[ $# -eq 2 ] || die "usage: pgserver.sh dir URI"
	echo "$2" | sed -n 's/.*[?&]host=\([^&]*\).*/\1/p'
	;;
*)
	echo "usage: pgserver.sh start | stop DIR | restart DIR | dir URI" >&2
	exit 2
	;;
esac
