#!/bin/sh
# /sbin/evtrace-init: PID 1 of the evtrace test VM (installed into the image
# by build-image.sh, started by the initrd's switch_root).
#
# It prepares the system, runs the command that scripts/vm/run.sh put in
# the control share (9p tag "evtrace", at /mnt/evtrace), stores its stdout,
# stderr and exit status there, and powers off. It uses shell builtins where
# it can, since every process start costs ~0.1 s under TCG.
#
# Control share files:  cmd (command text, run with `sh -c`), env (optional,
#   sourced first), stdout / stderr / rc (written here), ready (touched when
#   the command starts, to measure boot time).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb USER=root LOGNAME=root SHELL=/bin/sh

say() { echo "evtrace-init: $*" >/dev/console; }
halt_now() {
    # sysrq "o" = power off (the ACPI poweroff; no init system needed).
    echo o >/proc/sysrq-trigger
    sleep 30
    # Fallback: exiting PID 1 panics, panic=-1 + qemu -no-reboot => exit.
    exit 1
}

# /proc, /sys and /dev were moved here by the initrd; mount them if not
# (e.g. booted some other way).
[ -e /proc/self ] || mount -t proc proc /proc
[ -d /sys/kernel ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev

# Options are comma-free on purpose: one `mount` per line keeps failures
# visible on the console log.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

# msize: larger 9p messages make reading big test binaries much faster.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 evtrace /mnt/evtrace \
    || { say "cannot mount the control share"; halt_now; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host \
    || say "cannot mount the host share at /mnt/host"

echo evtrace-vm >/proc/sys/kernel/hostname
ip link set lo up || say "ip link set lo up failed"

# shellcheck source=/dev/null
[ -r /mnt/evtrace/env ] && . /mnt/evtrace/env

cd /mnt/host 2>/dev/null || cd /
: >/mnt/evtrace/ready
# stdin is /dev/null: nothing can type into the guest anyway.
# Note for test writers: a non-interactive sh starts background jobs
# (`cmd &`) with SIGINT and SIGQUIT ignored, so `kill -INT $!` does nothing
# to them; use SIGTERM, or `set -m` for job control, or start them via
# `setsid`/a program that resets its signal dispositions.
sh -c "$(cat /mnt/evtrace/cmd)" </dev/null >/mnt/evtrace/stdout 2>/mnt/evtrace/stderr
echo $? >/mnt/evtrace/rc
cd /
sync
halt_now
