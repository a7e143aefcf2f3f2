#!/usr/bin/env bash
# run.sh - run a command as root in a fresh Debian 12 VM (kernel 6.1 with
# kprobes, bcc, kernel headers), for testing evtrace where the host kernel
# cannot (no kprobes on the host).
#
# Usage: scripts/vm/run.sh [options] [--] COMMAND...
#   --timeout SEC     kill the VM after SEC seconds, exit 124 (default 900)
#   --share HOSTDIR   host dir shared read-write at /mnt/host (default: repo root)
#   --mem MB          guest memory (default 2048)
#   --smp N           guest CPUs (default 2)
#   --env NAME=VALUE  export NAME=VALUE to the command (repeatable)
#   -v, --verbose     print boot and run times to stderr
#
# COMMAND (its words joined by spaces, like ssh) runs via `sh -c` as root in
# /mnt/host with PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# and HOME=/root; proc, sys, dev, tracefs (/sys/kernel/tracing), debugfs
# (/sys/kernel/debug), bpffs and cgroup2 are mounted and lo is up. No other
# network. Its stdout/stderr are streamed to ours; we exit with its exit code.
# 124 = timeout, 125 = the VM failed before reporting a status, 126 = the
# guest kernel panicked (a soft lockup panics too: softlockup_panic=1, so
# that a wedged guest fails in seconds instead of at the timeout).
# The disk is a throw-away snapshot of the cached image: only writes under
# /mnt/host survive.
#
# Note for test writers: a non-interactive sh starts background jobs
# (`cmd &`) with SIGINT/SIGQUIT ignored, so `kill -INT $!` will not stop
# them; use SIGTERM (or `set -m`) in test scripts.
#
# Environment: EVTRACE_VM_CACHE (image cache, default /var/cache/evtrace/vm),
#   EVTRACE_VM_ACCEL=auto|kvm|tcg, EVTRACE_VM_BOOT=pvh|vmlinuz (pvh boots the
#   uncompressed ELF with the tiny initrd; vmlinuz uses Debian's initrd,
#   slower), EVTRACE_VM_KEEP=1 (keep the run dir with the console log
#   until the next run).
# The image is built (as root) by build-image.sh when missing or stale.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${EVTRACE_VM_CACHE:-/var/cache/evtrace/vm}

msg() { printf 'evtrace-vm: %s\n' "$*" >&2; }
usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
die() { msg "ERROR: $*"; exit 125; }

timeout=900
share=$repo
mem=2048
smp=2
verbose=0
envs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
        --share) share=${2:?--share needs a value}; shift 2 ;;
        --mem) mem=${2:?--mem needs a value}; shift 2 ;;
        --smp) smp=${2:?--smp needs a value}; shift 2 ;;
        --env) envs+=("${2:?--env needs NAME=VALUE}"); shift 2 ;;
        -v|--verbose) verbose=1; shift ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        -*) msg "unknown option $1"; usage ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { msg "no command given"; usage; }
for n in "$timeout" "$mem" "$smp"; do
    case "$n" in ''|*[!0-9]*) die "not a number: $n" ;; esac
done
for e in "${envs[@]}"; do
    name=${e%%=*}
    case "$name" in ''|[0-9]*|*[!A-Za-z0-9_]*) die "bad --env $e (want NAME=VALUE)" ;; esac
    [ "$name" != "$e" ] || die "--env needs NAME=VALUE, got $e"
done
[ -d "$share" ] || die "share dir $share does not exist"
share=$(cd "$share" && pwd)
command -v qemu-system-x86_64 >/dev/null || [ "$(id -u)" -eq 0 ] || die "qemu-system-x86_64 missing (run build-image.sh as root)"

# --- image ---------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
    "$here/build-image.sh" --quiet || die "building the VM image failed"
elif [ ! -s "$cache/disk.img" ] || [ ! -s "$cache/stamp" ]; then
    die "no VM image in $cache: run 'sudo $here/build-image.sh' first"
fi

# --- accelerator -------------------------------------------------------------------
# /dev/kvm may be a paravirtual KVM (kvm_pvm module) that hangs a stock
# Debian kernel: use TCG (emulation, slow but works) there and without KVM.
accel_mode=${EVTRACE_VM_ACCEL:-auto}
if [ "$accel_mode" = auto ]; then
    if [ -e /sys/module/kvm_pvm ] || [ ! -w /dev/kvm ]; then accel_mode=tcg; else accel_mode=kvm; fi
fi
# shellcheck disable=SC2054 # commas are qemu option syntax
case "$accel_mode" in
    kvm) accel=(-accel kvm -cpu host) ;;
    tcg) accel=(-accel tcg,thread=multi -cpu max) ;;
    *) die "EVTRACE_VM_ACCEL must be auto, kvm or tcg" ;;
esac

# --- per-run dir: ctl/ is the guest's control share (9p tag "evtrace") -----------
# Remove run dirs left by runs that were SIGKILLed (their pid is gone).
for d in "${TMPDIR:-/tmp}"/evtrace-vm.*; do
    [ -f "$d/pid" ] || continue
    read -r p <"$d/pid" || continue
    kill -0 "$p" 2>/dev/null || rm -rf "$d"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/evtrace-vm.XXXXXX")
echo $$ >"$tmp/pid"
qpid='' spid='' t1='' t2=''
# shellcheck disable=SC2317 # invoked via trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qpid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$qpid" 2>/dev/null || true
    fi
    for p in $spid $t1 $t2; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${EVTRACE_VM_KEEP:-0}" = 1 ]; then msg "kept run dir $tmp"; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ctl=$tmp/ctl
mkdir "$ctl"
printf '%s\n' "$*" >"$ctl/cmd"
: >"$ctl/env"
for e in "${envs[@]}"; do
    name=${e%%=*}
    val=${e#*=}
    # single-quote for the guest's sh: ' -> '\''
    printf "export %s='%s'\n" "$name" "${val//\'/\'\\\'\'}" >>"$ctl/env"
done
: >"$ctl/stdout"
: >"$ctl/stderr"

# --- boot ---------------------------------------------------------------------------
case "${EVTRACE_VM_BOOT:-pvh}" in
    pvh) kernel=$cache/vmlinux; initrd=$cache/initrd.img; init=() ;;
    vmlinuz) kernel=$cache/vmlinuz; initrd=$cache/initrd-debian.img
             init=(root=/dev/vda rw init=/sbin/evtrace-init) ;;
    *) die "EVTRACE_VM_BOOT must be pvh or vmlinuz" ;;
esac
# panic=-1 + -no-reboot: if init dies, qemu exits instead of hanging.
# mitigations=off: no speculation workarounds, noticeably faster under TCG.
append="console=ttyS0 quiet loglevel=5 panic=-1 softlockup_panic=1 mitigations=off random.trust_cpu=on ${init[*]}"
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot
    -display none -monitor none -serial "file:$tmp/console.log"
    "${accel[@]}" -m "$mem" -smp "$smp"
    -kernel "$kernel" -initrd "$initrd" -append "$append"
    -drive "file=$cache/disk.img,format=raw,if=virtio,snapshot=on,cache=unsafe"
    -virtfs "local,path=$ctl,mount_tag=evtrace,security_model=none,id=evtrace"
    -virtfs "local,path=$share,mount_tag=host,security_model=none,id=host")
# pdeathsig: the kernel kills qemu (and the timer) even if this script is
# SIGKILLed, so no qemu is ever left behind.
orphan_guard=()
if command -v setpriv >/dev/null && setpriv --help 2>&1 | grep -q pdeathsig; then
    orphan_guard=(setpriv --pdeathsig KILL)
fi

start=$(date +%s.%N)
"${orphan_guard[@]}" "${qemu[@]}" </dev/null >"$tmp/qemu.out" 2>&1 &
qpid=$!
# Stream the command's output while it runs; tail stops when qemu is gone.
tail -n +1 -s 0.2 -f --pid="$qpid" "$ctl/stdout" &
t1=$!
tail -n +1 -s 0.2 -f --pid="$qpid" "$ctl/stderr" >&2 &
t2=$!
"${orphan_guard[@]}" sleep "$timeout" &
spid=$!

done_pid=''
wait -n -p done_pid "$qpid" "$spid" || true
end=$(date +%s.%N)
timed_out=0
if [ "$done_pid" != "$qpid" ]; then
    timed_out=1
    kill -KILL "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
fi
qpid=''
# The tails exit once qemu is gone, after printing what is left.
wait "$t1" "$t2" 2>/dev/null || true
t1='' t2=''

show_log() {
    msg "last lines of the VM console ($1):"
    if [ -s "$tmp/console.log" ]; then
        tail -n "${2:-40}" "$tmp/console.log" | sed 's/^/  | /' >&2 || true
    else
        msg "  (empty: the guest kernel logs only warnings and errors)"
    fi
    if [ -s "$tmp/qemu.out" ]; then sed 's/^/  qemu: /' "$tmp/qemu.out" >&2; fi
}

if [ "$timed_out" -eq 1 ]; then
    msg "TIMEOUT: command did not finish within $timeout s; VM killed"
    show_log timeout 20
    exit 124
fi

if [ "$verbose" -eq 1 ] && [ -e "$ctl/ready" ]; then
    ready=$(date -r "$ctl/ready" +%s.%N)
    msg "$(awk -v s="$start" -v r="$ready" -v e="$end" \
        'BEGIN { printf "boot %.1f s, command + shutdown %.1f s, total %.1f s", r - s, e - r, e - s }')"
fi

if [ ! -s "$ctl/rc" ]; then
    if grep -q "Kernel panic" "$tmp/console.log" 2>/dev/null; then
        show_log "the guest kernel panicked" 80
        exit 126
    fi
    show_log "VM stopped without a command exit status" 60
    exit 125
fi
read -r rc <"$ctl/rc"
case "$rc" in ''|*[!0-9]*) die "bad exit status from the VM: $rc" ;; esac
exit "$rc"
