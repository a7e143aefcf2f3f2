#!/bin/sh
# /init of the tiny evtrace initrd (run by busybox sh, built by build-image.sh).
# Loads the modules needed to reach the root disk and the 9p shares, mounts
# /dev/vda and hands over to /sbin/evtrace-init in the real root. Kept to
# few processes: under TCG each exec costs ~0.1 s.
export PATH=/bin
fail() {
    echo "evtrace-initrd: $*" >/dev/console
    # Exiting PID 1 panics; with panic=-1 and -no-reboot qemu then exits.
    exit 1
}

mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys

# /modules.list: module files in dependency order (written by build-image.sh).
while read -r m; do
    [ -n "$m" ] || continue
    insmod "/modules/$m" 2>/dev/null || echo "evtrace-initrd: insmod $m failed" >/dev/console
done < /modules.list

# virtio-blk probes asynchronously: wait up to ~10 s for the disk.
i=0
while [ ! -b /dev/vda ]; do
    i=$((i + 1))
    [ "$i" -le 100 ] || fail "no /dev/vda"
    sleep 0.1
done

mount -t ext4 -o rw,noatime /dev/vda /newroot || fail "cannot mount /dev/vda"
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /sbin/evtrace-init
