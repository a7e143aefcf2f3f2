#!/usr/bin/env bash
# build-image.sh - build (once) the Debian 12 guest used by scripts/vm/run.sh.
#
# Usage: sudo scripts/vm/build-image.sh [--force] [--quiet]
#   --force  rebuild even when the cached image is up to date
#   --quiet  print nothing when the cached image is up to date
#
# Output, in ${EVTRACE_VM_CACHE:-/var/cache/evtrace/vm}:
#   disk.img        ext4 root file system (sparse, never modified by run.sh)
#   vmlinux         uncompressed kernel ELF (qemu boots it directly via PVH)
#   vmlinuz         the compressed kernel (fallback, with Debian's initrd:
#                   initrd-debian.img)
#   initrd.img      tiny busybox initrd: loads virtio/ext4/9p modules, mounts
#                   /dev/vda, switch_root to /sbin/evtrace-init
#   kernel-release  e.g. 6.1.0-41-amd64
#   stamp           hash of the inputs; the image is rebuilt when it changes
#
# The guest is `debootstrap --variant=minbase bookworm` + linux-image-amd64,
# then scripts/provision.sh run inside the chroot (bcc, headers, bpftool...).
# Environment: EVTRACE_VM_CACHE, EVTRACE_VM_MIRROR (Debian mirror URL),
#              EVTRACE_VM_SECURITY_MIRROR, EVTRACE_VM_DISK_SIZE (default 3G).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${EVTRACE_VM_CACHE:-/var/cache/evtrace/vm}
disk_size=${EVTRACE_VM_DISK_SIZE:-3G}
suite=bookworm

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

force=0
quiet=0
for a in "$@"; do
    case "$a" in
        --force) force=1 ;;
        --quiet) quiet=1 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) die "unknown argument: $a" ;;
    esac
done

inputs=("$here/build-image.sh" "$repo/scripts/provision.sh" "$here/initrd-init.sh" "$here/guest-init.sh")
for f in "${inputs[@]}"; do [ -r "$f" ] || die "missing input $f"; done
want_stamp=$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)
outputs=(disk.img vmlinux vmlinuz initrd.img kernel-release stamp)

image_ok() {
    local o
    for o in "${outputs[@]}"; do [ -s "$cache/$o" ] || return 1; done
    [ "$(cat "$cache/stamp")" = "$want_stamp" ]
}

up_to_date() {
    if [ "$force" -eq 0 ] && image_ok; then
        [ "$quiet" -eq 1 ] || log "up to date: $cache ($(cat "$cache/kernel-release"))"
        return 0
    fi
    return 1
}
# Fast path, also for non-root users.
up_to_date && exit 0
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mkfs)"

mkdir -p "$cache"
# One builder at a time (run.sh calls us before every boot); re-check once
# we hold the lock, another builder may just have finished.
exec 9>"$cache/.lock"
flock 9
up_to_date && exit 0

# Leftovers of a build that was killed: unmount and remove them.
for old in "$cache"/build.*; do
    [ -d "$old" ] || continue
    # shellcheck disable=SC2013 # mount points under our own dirs: no spaces
    for m in $(awk -v r="$old/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$old"
done

start=$(date +%s)
log "building guest image in $cache (takes a few minutes)"

# --- host tools -----------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
# The initrd needs a static busybox (no libc in the initrd).
if ! { [ -x /bin/busybox ] && ! LC_ALL=C ldd /bin/busybox >/dev/null 2>&1; }; then
    need+=(busybox-static)
fi
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
command -v flock >/dev/null || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing host tools: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
        || die "cannot install ${need[*]}"
fi
# mkfs.ext4 -d (populate from a directory) needs e2fsprogs >= 1.43.
{ mkfs.ext4 2>&1 || true; } | grep -q -- '-d ' || die "mkfs.ext4 does not support -d (need e2fsprogs >= 1.43)"

# --- mirrors ----------------------------------------------------------------------
# Use the host's Debian mirror when the host is Debian (it is reachable and
# maybe a local proxy); otherwise deb.debian.org.
host_uris() {
    { cat /etc/apt/sources.list 2>/dev/null || true; cat /etc/apt/sources.list.d/*.list 2>/dev/null || true; } \
        | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }'
}
mirror=${EVTRACE_VM_MIRROR:-}
security=${EVTRACE_VM_SECURITY_MIRROR:-}
if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
    [ -n "$mirror" ] || mirror=$(host_uris | grep -E '/debian/?$' | head -n1 || true)
    [ -n "$security" ] || security=$(host_uris | grep -E '/debian-security/?$' | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}
mirror=${mirror%/}
security=${security%/}
log "mirrors: $mirror, $security"

# --- build in a temp dir on the cache's file system ----------------------------------
work=$(mktemp -d "$cache/build.XXXXXX")
root=$work/root
cleanup() {
    local m
    # Unmount whatever is still mounted below the chroot, deepest first.
    # shellcheck disable=SC2013 # mount points under our own dirs: no spaces
    for m in $(awk -v r="$root" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

log "debootstrap $suite ($mirror)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
# No daemons may start in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
# Keep the image small: no docs, man pages or translations.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-evtrace-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t sysfs sysfs "$root/sys"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }

log "installing the kernel"
in_root apt-get update -qq
# initramfs-tools still builds Debian's own initrd: kept as a boot fallback.
in_root apt-get install -y -qq --no-install-recommends linux-image-amd64 procps util-linux kmod \
    >"$work/apt-kernel.log" 2>&1 || { tail -n 30 "$work/apt-kernel.log" >&2; die "kernel install failed"; }
kr=$(ls "$root/lib/modules")
[ "$(printf '%s\n' "$kr" | wc -l)" -eq 1 ] || die "expected one kernel in the image, got: $kr"
log "kernel $kr"

log "running provision.sh in the chroot"
cp "$repo/scripts/provision.sh" "$root/tmp/provision.sh"
in_root KERNEL_RELEASE="$kr" bash /tmp/provision.sh --no-mount >"$work/provision.log" 2>&1 \
    || { tail -n 40 "$work/provision.log" >&2; die "provision.sh failed in the chroot"; }
grep '^provision:' "$work/provision.log" >&2 || true
rm -f "$root/tmp/provision.sh"
[ -d "$root/lib/modules/$kr/build/include" ] || die "headers for $kr missing in the image"

# Guest init and mount points.
install -m 0755 "$here/guest-init.sh" "$root/sbin/evtrace-init"
mkdir -p "$root/mnt/host" "$root/mnt/evtrace"
echo evtrace-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tevtrace-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# Clean up: caches, lists, the host's resolv.conf, the policy file.
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/* \
    "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
for m in sys dev proc; do umount -l "$root/$m"; done

# --- kernel: extract the uncompressed ELF -------------------------------------------
# Same idea as the kernel's scripts/extract-vmlinux: find a compression magic
# in the bzImage, decompress from there, keep the first result that is an ELF.
cp "$root/boot/vmlinuz-$kr" "$work/vmlinuz"
is_elf() { [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
extract_vmlinux() { # image output
    local img=$1 out=$2 magic marker cmd pos
    while IFS='|' read -r magic marker cmd; do
        for pos in $(tr "$magic\n$marker" "\n$marker=" <"$img" | grep -abo "^$marker" | cut -d: -f1); do
            tail -c+"$pos" "$img" | $cmd >"$out" 2>/dev/null || true
            if [ -s "$out" ] && is_elf "$out"; then return 0; fi
        done
    done <<'EOF'
\3757zXZ\000|abcde|xz -dc
(\265/\375|xxx|zstd -dc
\037\213\010|xy|gzip -dc
EOF
    return 1
}
log "extracting vmlinux"
extract_vmlinux "$work/vmlinuz" "$work/vmlinux" || die "cannot extract vmlinux from vmlinuz-$kr"
# PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) lets qemu boot the ELF directly.
grep -q '^CONFIG_PVH=y' "$root/boot/config-$kr" || log "WARNING: guest kernel lacks CONFIG_PVH; run.sh needs EVTRACE_VM_BOOT=vmlinuz"
if [ -e "$root/boot/initrd.img-$kr" ]; then
    cp "$root/boot/initrd.img-$kr" "$work/initrd-debian.img"
fi

# --- tiny initrd ---------------------------------------------------------------------
log "building initrd"
ird=$work/initrd
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$ird/bin/$a"
done
install -m 0755 "$here/initrd-init.sh" "$ird/init"
mdir=$root/lib/modules/$kr
# Modules needed before switch_root (built-in ones are skipped); crc32c is
# a soft dependency of ext4 that modules.dep does not list.
wanted=(virtio_pci virtio_blk ext4 crc32c_generic 9p 9pnet_virtio)
declare -A seen=()
order=()
add_mod() { # module name -> appends its path, after its deps, to $order
    local name=${1//-/_} path dep line
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    line=$(grep -E "(^|/)${name//_/[_-]}\.ko(\.[a-z]+)?:" "$mdir/modules.dep" | head -n1 || true)
    if [ -z "$line" ]; then
        if grep -qE "(^|/)${name//_/[_-]}\.ko$" "$mdir/modules.builtin" 2>/dev/null; then
            return 0
        fi
        die "module $name neither modular nor built-in in $kr"
    fi
    path=${line%%:*}
    for dep in ${line#*:}; do
        dep=$(basename "$dep"); dep=${dep%%.ko*}
        add_mod "$dep"
    done
    order+=("$path")
}
for m in "${wanted[@]}"; do add_mod "$m"; done
: >"$ird/modules.list"
for p in "${order[@]}"; do
    f=$(basename "$p")
    case "$f" in # busybox insmod wants plain .ko files
        *.ko.xz) xz -dc "$mdir/$p" >"$ird/modules/${f%.xz}"; f=${f%.xz} ;;
        *.ko.zst) zstd -qdc "$mdir/$p" >"$ird/modules/${f%.zst}"; f=${f%.zst} ;;
        *.ko.gz) gzip -dc "$mdir/$p" >"$ird/modules/${f%.gz}"; f=${f%.gz} ;;
        *) cp "$mdir/$p" "$ird/modules/$f" ;;
    esac
    echo "$f" >>"$ird/modules.list"
done
log "initrd modules: $(tr '\n' ' ' <"$ird/modules.list")"
(cd "$ird" && find . -mindepth 1 | /bin/busybox cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$work/initrd.img"

# --- disk image ------------------------------------------------------------------------
log "making the ext4 image ($disk_size, sparse)"
mkfs.ext4 -q -F -L evtrace-root -E root_owner=0:0 -d "$root" "$work/disk.img" "$disk_size" >/dev/null \
    || die "mkfs.ext4 failed (image too small? set EVTRACE_VM_DISK_SIZE)"

# --- publish: rename into place (qemu processes keep the old inodes) ----------------
echo "$kr" >"$work/kernel-release"
for o in disk.img vmlinux vmlinuz initrd.img kernel-release; do
    mv -f "$work/$o" "$cache/$o"
done
if [ -e "$work/initrd-debian.img" ]; then mv -f "$work/initrd-debian.img" "$cache/"; fi
echo "$want_stamp" >"$cache/stamp"
used=$(du -sh --apparent-size "$root" | cut -f1)
log "done in $(($(date +%s) - start)) s: kernel $kr, root fs $used, cache $cache"
