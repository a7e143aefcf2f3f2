#!/bin/sh
# Guest side of `make demo`: start evtrace listen, start a few real servers
# (one in its own network namespace), show the events, stop everything.
# Runs inside the VM (scripts/vm/run.sh) from the shared checkout.
set -eu
ev=./evtrace
log=/tmp/evtrace.err

echo "== evtrace listen --show-netns  (compiling the probe with bcc; under emulation this takes a while)"
$ev listen --show-netns 2>"$log" &
evpid=$!
i=0
until grep -q "tracing listen" "$log"; do
	if ! kill -0 "$evpid" 2>/dev/null; then cat "$log"; exit 1; fi
	i=$((i + 1)); [ "$i" -lt 600 ] || { echo "evtrace not ready after 600 s"; cat "$log"; exit 1; }
	sleep 1
done
echo "== ready after ${i} s; starting servers"

python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &
s1=$!
python3 -m http.server 8080 --bind ::1 >/dev/null 2>&1 &
s2=$!
nc -l 4242 >/dev/null 2>&1 &
s3=$!
ip netns add demo
ip netns exec demo nc -l 9090 >/dev/null 2>&1 &
s4=$!
sleep 3
echo "== network namespaces: host $(readlink /proc/self/ns/net), demo $(readlink /proc/$s4/ns/net)"
echo "== servers: http.server on 127.0.0.1:8000 (pid $s1) and [::1]:8080 (pid $s2), nc -l 4242 (pid $s3), nc -l 9090 in netns demo (pid $s4)"
kill "$s1" "$s2" "$s3" "$s4" 2>/dev/null || true
# Background jobs of a non-interactive sh ignore SIGINT: stop with SIGTERM.
kill -TERM "$evpid"
wait "$evpid" || true
cat "$log"
