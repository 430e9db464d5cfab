#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what kvm-split needs on a Debian 12 or 13 machine and fetch the
# target kernel's packages.  Idempotent: a second run installs and downloads
# nothing.
#
#   scripts/setup.sh            host tools + kernel packages for $KVER
#   scripts/setup.sh --tools    host tools only
#
# Kernel selection (see resolve_kernel in scripts/lib.sh): KVER=<abi or
# release> (e.g. 6.12.118+deb13, 6.12.118+deb13-cloud-amd64), KFLAVOUR, or
# KSRC=<tree>.  Packages are downloaded with "apt-get download" through a
# private apt configuration of the kernel's Debian suite (build/apt/<suite>/)
# and unpacked with "dpkg -x" under build/pkgs/<abi>/: nothing is installed
# into the host's /boot or /lib/modules.  A kernel of another Debian release
# than the machine's gets that release's build root (scripts/debian-root.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

TOOLS=(build-essential bc flex bison libelf-dev libssl-dev xz-utils rsync cpio
       busybox-static qemu-system-x86 gnuplot-nox kmod dwarves sparse
       debian-archive-keyring mmdebstrap file patch)

missing=()
for p in "${TOOLS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	info "installing: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		die "need root to install ${missing[*]} (or install them yourself)"
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		apt-get update -q >/dev/null
		apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi

[ "${1:-}" = --tools ] && exit 0

# Kernel packages.
resolve_kernel
if [ -n "${KSRC:-}" ]; then
	info "KSRC=$KSRC given: using that tree and KDIR=$KDIR; no package download"
	exit 0
fi

mkdir -p "$CACHE" "$PKGROOT"
for name in $(kernel_pkgs "$KSUITE" "$KABI" "$KSERIES" "$KFLAVOUR"); do
	deb=("$CACHE/${name}_${KPKGVER}_"*.deb)
	if [ ! -f "${deb[0]}" ]; then
		info "downloading $name ($KPKGVER, $KSUITE)"
		apt_download "$KSUITE" "$CACHE" "$name=$KPKGVER" ||
			die "cannot download $name=$KPKGVER: is KVER=$KVER a kernel Debian still publishes?"
		deb=("$CACHE/${name}_${KPKGVER}_"*.deb)
	fi
	if [ ! -e "$PKGROOT/.unpacked-${name}_$KPKGVER" ]; then
		info "unpacking $name"
		dpkg -x "${deb[0]}" "$PKGROOT"
		touch "$PKGROOT/.unpacked-${name}_$KPKGVER"
	fi
done
# The headers package expects to live in /usr/src: point its Makefile at the
# unpacked copy of the -common part (7.x's names it in KBUILD_OUTPUT too;
# sed -i writes a new file, so a copy hard-linked from another checkout
# keeps its own).
sed -i -e "s|^include .*/usr/src/linux-headers-|include $PKGROOT/usr/src/linux-headers-|" \
	-e "s|^KBUILD_OUTPUT=.*/usr/src/linux-headers-|KBUILD_OUTPUT=$PKGROOT/usr/src/linux-headers-|" \
	"$KDIR/Makefile"
# The kernel's own release's toolchain.
[ -z "$KROOT" ] || "$top/scripts/debian-root.sh" create "$KROOT"
info "kernel $KVER ready: headers $KDIR, image $VMLINUZ${KROOT:+, built in the $KROOT root}"
