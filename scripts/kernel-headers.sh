#!/usr/bin/env bash
# Print the path of one kernel headers tree that libbcc can compile against,
# making it from Debian's split packages when needed.
#
# Debian ships headers in two packages: linux-headers-VER-common (the source
# headers, with include/linux/kconfig.h) and linux-headers-VER-ARCH (the
# generated and arch files). /lib/modules/VER-ARCH/{build,source} point at
# both and libbcc reads both, but BCC_KERNEL_SOURCE (evtrace --kernel-source)
# names one tree, so this script copies -ARCH over -common into a cache.
#
# Usage: scripts/kernel-headers.sh [VERSION-ARCH]   (default: newest installed)
# The tree goes to ${EVTRACE_CACHE:-/var/cache/evtrace}/headers/VERSION-ARCH.
# Installs linux-headers-amd64 when no headers are installed at all.
set -euo pipefail

cache=${EVTRACE_CACHE:-/var/cache/evtrace}/headers

pick() {
	ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1
}

want=${1:-}
if [ -z "$want" ]; then
	common=$(pick)
	if [ -z "$common" ]; then
		echo "kernel-headers: no Debian kernel headers installed; installing linux-headers-amd64" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-headers-amd64 >&2
		common=$(pick)
	fi
	[ -n "$common" ] || { echo "kernel-headers: no /usr/src/linux-headers-*-common" >&2; exit 1; }
	base=${common%-common}
	arch=$(ls -d "$base"-* | grep -v -- '-common$' | head -n 1)
else
	arch=/usr/src/linux-headers-$want
	base=${arch%-*}
	common=$base-common
fi
[ -d "$arch" ] && [ -d "$common" ] || { echo "kernel-headers: need both $common and $arch" >&2; exit 1; }

dest=$cache/$(basename "$arch" | sed 's/^linux-headers-//')
stamp="$common $arch $(stat -c %Y "$common" "$arch" | tr '\n' ' ')"
if [ -f "$dest/.evtrace-stamp" ] && [ "$(cat "$dest/.evtrace-stamp")" = "$stamp" ]; then
	echo "$dest"
	exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
cp -a "$common/." "$dest.tmp/"
cp -a "$arch/." "$dest.tmp/"
echo "$stamp" > "$dest.tmp/.evtrace-stamp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$dest"
