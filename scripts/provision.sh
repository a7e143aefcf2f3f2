#!/usr/bin/env bash
# provision.sh - install what evtrace needs at run time on Debian/Ubuntu.
#
# Usage: sudo scripts/provision.sh [--dev] [--no-mount]
#   --dev       also install what building evtrace needs (libbpfcc-dev, gcc, make, patch, git)
#   --no-mount  do not mount tracefs/debugfs (implied inside a chroot)
# Environment:
#   KERNEL_RELEASE  kernel whose headers to install (default: `uname -r`, or,
#                   inside a chroot, the single kernel in /lib/modules, or
#                   else the linux-headers-<arch> metapackage)
#
# Idempotent: packages already installed are not touched, `apt-get update`
# only runs when something must be installed and the package lists are
# missing, old, or do not know a package. Used by scripts/vm/build-image.sh
# (inside the guest image chroot) and by the Vagrantfile (booted Debian 12).
set -euo pipefail

log() { printf 'provision: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

dev=0
mount_fs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --dev) dev=1 ;;
        --no-mount) mount_fs=0 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v apt-get >/dev/null || die "apt-get not found: only Debian/Ubuntu are supported"

export DEBIAN_FRONTEND=noninteractive

# In a chroot, `uname -r` is the host's kernel and mounting into /sys is
# pointless (and may touch the host). ischroot (debianutils) answers 0/1,
# or 2 when it cannot tell; then: no /proc means a chroot.
in_chroot() {
    local r=0 a b
    if command -v ischroot >/dev/null 2>&1; then
        ischroot || r=$?
        case "$r" in 0) return 0 ;; 1) return 1 ;; esac
    fi
    [ -e /proc/self ] || return 0
    a=$(stat -Lc '%d:%i' /) || return 1
    b=$(stat -Lc '%d:%i' /proc/1/root/ 2>/dev/null) || return 1
    [ "$a" != "$b" ]
}

chroot=0
if in_chroot; then
    chroot=1
    mount_fs=0
    log "running in a chroot: not mounting tracefs/debugfs"
fi

arch=$(dpkg --print-architecture)
# shellcheck source=/dev/null
. /etc/os-release
distro=${ID:-debian}

# --- which kernel headers -----------------------------------------------------
headers_meta="linux-headers-$arch"
[ "$distro" = ubuntu ] && headers_meta=linux-headers-generic
kr=${KERNEL_RELEASE:-}
if [ -z "$kr" ]; then
    if [ "$chroot" -eq 0 ]; then
        kr=$(uname -r)
    else
        # The image being built has its own kernel installed: use it when
        # there is exactly one, else fall back to the metapackage.
        kernels=()
        for d in /lib/modules/*/; do
            [ -d "$d" ] && kernels+=("$(basename "$d")")
        done
        [ "${#kernels[@]}" -eq 1 ] && kr=${kernels[0]}
    fi
fi
if [ -n "$kr" ] && [ "$chroot" -eq 0 ] && [ -z "${KERNEL_RELEASE:-}" ] \
    && ! dpkg -S "/boot/vmlinuz-$kr" >/dev/null 2>&1; then
    # A kernel that no package installed (custom build): no headers package
    # matches it. With BTF, evtrace reads struct offsets from the kernel and
    # only needs some headers for bcc to compile against: the distribution's.
    if [ -e /sys/kernel/btf/vmlinux ]; then
        headers_pkg=$headers_meta
        log "kernel $kr is not a distribution kernel; it has BTF: installing $headers_meta for evtrace's BTF fallback"
    else
        headers_pkg=''
        log "WARNING: kernel $kr is not a distribution kernel and has no BTF: not installing headers"
        log "WARNING: (bcc then needs matching headers in /lib/modules/$kr/build or CONFIG_IKHEADERS)"
    fi
elif [ -n "$kr" ]; then
    headers_pkg="linux-headers-$kr"
else
    headers_pkg=$headers_meta
    log "kernel release unknown (chroot, KERNEL_RELEASE unset): using $headers_pkg"
fi

# --- package list -------------------------------------------------------------
# clang and llvm (llc): the ELF backend's ahead-of-time compiler.
pkgs=(libbpfcc bpfcc-tools python3-bpfcc iproute2 netcat-openbsd python3 clang llvm)
# --dev: what building evtrace (cgo against libbcc) and re-vendoring need;
# systemtap-sdt-dev's <sys/sdt.h> builds the USDT probes of the tests' C
# program; groff-base renders the man pages in their test.
[ "$dev" -eq 1 ] && pkgs+=(libbpfcc-dev gcc libc6-dev make patch git systemtap-sdt-dev groff-base)
optional_pkgs=()

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
has_candidate() {
    local c
    c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    [ -n "$c" ] && [ "$c" != "(none)" ]
}
lists_fresh() {
    # Package lists exist and are younger than one day.
    local f
    f=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n1)
    [ -n "$f" ]
}
updated=0
apt_update() {
    [ "$updated" -eq 1 ] && return 0
    log "apt-get update"
    apt-get update -qq || die "apt-get update failed"
    updated=1
}

missing_of() {
    local p
    for p in "$@"; do installed "$p" || printf '%s\n' "$p"; done
}

[ -z "$headers_pkg" ] || pkgs+=("$headers_pkg")
mapfile -t missing < <(missing_of "${pkgs[@]}")
bpftool_ok=0
if installed bpftool || command -v bpftool >/dev/null 2>&1; then bpftool_ok=1; fi

if [ "${#missing[@]}" -gt 0 ] || [ "$bpftool_ok" -eq 0 ]; then
    lists_fresh || apt_update
    for p in "${missing[@]}"; do
        has_candidate "$p" || { apt_update; break; }
    done

    # bpftool: its own package on Debian 12 / recent Ubuntu; older Ubuntu
    # ships it only in linux-tools-<release>.
    if [ "$bpftool_ok" -eq 0 ]; then
        if has_candidate bpftool; then
            missing+=(bpftool)
        elif [ -n "$kr" ] && has_candidate "linux-tools-$kr"; then
            optional_pkgs+=(linux-tools-common "linux-tools-$kr")
        else
            log "WARNING: no bpftool package found; continuing without it"
        fi
    fi

    # Headers for the running kernel may be gone from the archive (Debian
    # keeps only the current kernel ABI): then install the current kernel
    # and its headers, which take effect after a reboot.
    if [ -n "$headers_pkg" ] && [ "$headers_pkg" != "$headers_meta" ] && ! has_candidate "$headers_pkg"; then
        log "WARNING: $headers_pkg is not available from the archive."
        [ "$chroot" -eq 0 ] || die "cannot install headers for kernel $kr"
        log "WARNING: installing the current kernel + headers instead; REBOOT before using evtrace"
        missing=("${missing[@]/$headers_pkg/}")
        if [ "$distro" = ubuntu ]; then
            missing+=(linux-image-generic "$headers_meta")
        else
            missing+=("linux-image-$arch" "$headers_meta")
        fi
        touch /var/run/reboot-required 2>/dev/null || true
    fi

    to_install=()
    for p in "${missing[@]}" "${optional_pkgs[@]}"; do
        if [ -n "$p" ]; then to_install+=("$p"); fi
    done
    if [ "${#to_install[@]}" -gt 0 ]; then
        log "installing: ${to_install[*]}"
        apt-get install -y -qq --no-install-recommends "${to_install[@]}" \
            || die "apt-get install failed"
    fi
else
    log "all packages already installed"
fi

# --- sanity checks --------------------------------------------------------------
# The distribution python (a pyenv/venv python3 earlier in PATH lacks bcc).
/usr/bin/python3 -c "import bcc" 2>/dev/null || die "/usr/bin/python3 cannot import bcc (python3-bpfcc broken?)"
if [ -n "$kr" ] && [ ! -e "/lib/modules/$kr/build/include" ] && [ ! -e "/usr/src/linux-headers-$kr/include" ]; then
    log "WARNING: headers for $kr not found under /lib/modules/$kr/build"
fi

# --- tracefs / debugfs --------------------------------------------------------
is_mounted() { awk -v m="$1" '$2 == m {f=1} END {exit !f}' /proc/self/mounts; }
mount_one() { # fstype mountpoint
    if is_mounted "$2"; then
        log "$1 already mounted at $2"
    else
        mkdir -p "$2" 2>/dev/null || true
        if mount -t "$1" "$1" "$2"; then
            log "mounted $1 at $2"
        else
            log "WARNING: could not mount $1 at $2"
        fi
    fi
}
if [ "$mount_fs" -eq 1 ]; then
    # debugfs first: on old kernels tracefs lives under /sys/kernel/debug/tracing.
    mount_one debugfs /sys/kernel/debug
    mount_one tracefs /sys/kernel/tracing
fi

log "done (kernel headers: ${headers_pkg:-none})"
