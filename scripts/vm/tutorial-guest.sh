#!/bin/sh
# Guest side of `make tutorial STEP=N [ARGS='...']`: start one step of
# evtrace's tutorial, open the listeners the tutorial uses (nc -l, a server
# with backlog 128, one in another network namespace), print what the step
# printed, stop it. Runs inside the VM (scripts/vm/run.sh) from the shared
# checkout; the end-to-end tests run it for every step.
#
# Usage: tutorial-guest.sh STEP [evtrace tutorial options...]
#   STEP: 1..6 or a step's name; "all" runs each step in turn.
# Environment: EVTRACE_BIN (default ./evtrace); TUTORIAL_PORTS, three
# ports for nc, the server and nc in the namespace (default 4242 8128 9090);
# TUTORIAL_NETNS, the namespace's name (default tutorial).
set -eu
ev=${EVTRACE_BIN:-./evtrace}
ports=${TUTORIAL_PORTS:-4242 8128 9090}
ns=${TUTORIAL_NETNS:-tutorial}
[ $# -ge 1 ] || { echo "usage: $0 STEP [options]" >&2; exit 2; }
step=$1
shift
if [ "$step" = all ]; then
	for s in 1 2 3 4 5 6; do sh "$0" "$s" "$@"; done
	exit 0
fi
set -- $ports "$@"
p1=$1 p2=$2 p3=$3
shift 3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== evtrace tutorial $step $*  (compiling with bcc; under emulation this takes a minute)"
"$ev" tutorial "$step" "$@" >"$work/out" 2>"$work/err" &
evpid=$!
i=0
until grep -q "evtrace: tracing" "$work/err"; do
	if ! kill -0 "$evpid" 2>/dev/null; then
		code=0
		wait "$evpid" || code=$?
		echo "== evtrace ended before it was attached (exit $code):"
		cat "$work/out" "$work/err"
		echo "== exit $code"
		exit 0
	fi
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "evtrace not ready after 600 s"; cat "$work/err"; kill -TERM "$evpid"; exit 1; }
	sleep 1
done

ip netns add "$ns"
ip -n "$ns" link set lo up
nc -l "$p1" >/dev/null 2>&1 &
l1=$!
python3 -c "import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $p2))
s.listen(128)
time.sleep(30)" &
l2=$!
ip netns exec "$ns" nc -l "$p3" >/dev/null 2>&1 &
l3=$!
sleep 3
inode=$(stat -L -c %i "/run/netns/$ns")
echo "== listeners: nc -l $p1 (backlog 1, pid $l1); python3 on 127.0.0.1:$p2 (backlog 128, pid $l2); nc -l $p3 (pid $l3) in network namespace $ns ($inode)"
kill "$l1" "$l2" "$l3" 2>/dev/null || true
wait "$l1" "$l2" "$l3" 2>/dev/null || true
ip netns del "$ns"
# Background jobs of a non-interactive sh ignore SIGINT: stop with SIGTERM.
kill -TERM "$evpid"
code=0
wait "$evpid" || code=$?
echo "== what the step printed:"
cat "$work/out"
echo "== evtrace's messages:"
cat "$work/err"
echo "== exit $code"
