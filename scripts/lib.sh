# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # sourced; sets variables for its callers
# Shared helpers for kvm-split's scripts: messages and kernel resolution.
# Sourced, not executed.  Expects $top to be the repository root.

info() { printf 'kvm-split: %s\n' "$*" >&2; }
die() { printf 'kvm-split: error: %s\n' "$*" >&2; exit 1; }

KSERIES=${KSERIES:-6.12}
BUILD=${BUILD:-$top/build}
CACHE=$BUILD/cache

# apt_versions <package>: every version apt can download, newest first,
# once each (madison prints a line per archive that has it).
apt_versions() {
	apt-cache madison "$1" 2>/dev/null |
		awk -F'|' '{ gsub(/ /, "", $2); if (!seen[$2]++) print $2 }'
}

# kernel_pkgs <abi> <series>: the packages one Debian kernel build needs.
kernel_pkgs() {
	echo "linux-source-$2 linux-headers-$1-amd64 linux-headers-$1-common" \
	     "linux-kbuild-$1 linux-image-$1-amd64-unsigned"
}

# kernel_complete <abi> <series> <pkgversion>: all of its packages exist at
# that exact version (older point releases stay downloadable from the
# archive, so a version need not be apt's candidate).
kernel_complete() {
	local p
	for p in $(kernel_pkgs "$1" "$2"); do
		apt_versions "$p" | grep -qxF "$3" || return 1
	done
}

# resolve_kernel: set KVER (Debian ABI name, e.g. 6.12.117+deb12), KPKGVER
# (package version), KDIR (headers dir for M= builds), VMLINUZ (guest
# kernel), KSRC_TAR (source tarball) or honour KSRC/KDIR given by the user.
# Each Debian kernel gets its own package root, so builds for several point
# releases live side by side.
resolve_kernel() {
	if [ -n "${KSRC:-}" ]; then
		[ -f "$KSRC/Makefile" ] && [ -d "$KSRC/arch/x86/kvm" ] ||
			die "KSRC=$KSRC is not a kernel tree (no arch/x86/kvm)"
		KSRC=$(cd "$KSRC" && pwd)
		KVER=${KVER:-$(make -s --no-print-directory -C "$KSRC" kernelversion 2>/dev/null)}
		KDIR=${KDIR:-$KSRC}
		KSERIES=$(echo "$KVER" | cut -d. -f1-2)
		VMLINUZ=${VMLINUZ:-$KSRC/arch/x86/boot/bzImage}
		# A built tree keeps its modules next to their sources.
		KMODDIR=${KMODDIR:-$KDIR}
		return 0
	fi
	# A fresh machine may have no package lists yet.
	if [ -z "$(apt-cache policy "linux-source-$KSERIES" 2>/dev/null)" ] &&
	   [ "$(id -u)" = 0 ]; then
		info "apt has no package lists: running apt-get update"
		apt-get update -q >/dev/null 2>&1 || true
	fi
	local v p
	if [ -z "${KVER:-}" ]; then
		# The newest point release whose packages are all there.
		KPKGVER=
		for v in $(apt_versions "linux-source-$KSERIES"); do
			if kernel_complete "${v%%-*}+deb12" "$KSERIES" "$v"; then
				KPKGVER=$v
				break
			fi
		done
		[ -n "$KPKGVER" ] ||
			die "no complete Debian $KSERIES kernel (source, headers, image) known to apt (run apt-get update, or set KSRC=)"
		KVER="${KPKGVER%%-*}+deb12"
	else
		# An ABI name is built once, so its image has a single version.
		KPKGVER=$(apt_versions "linux-image-$KVER-amd64-unsigned" | head -n1)
		[ -n "$KPKGVER" ] ||
			die "KVER=$KVER: no linux-image-$KVER-amd64-unsigned package is available (known: $(apt_versions "linux-source-$KSERIES" | sed 's/-.*/+deb12/' | paste -sd' '))"
		KSERIES=$(echo "$KVER" | cut -d. -f1-2)
		for p in $(kernel_pkgs "$KVER" "$KSERIES"); do
			apt_versions "$p" | grep -qxF "$KPKGVER" ||
				die "KVER=$KVER: $p has no version $KPKGVER; source, headers and image must match"
		done
	fi
	PKGROOT=$BUILD/pkgs/$KVER
	KDIR=${KDIR:-$PKGROOT/usr/src/linux-headers-$KVER-amd64}
	VMLINUZ=$PKGROOT/boot/vmlinuz-$KVER-amd64
	KMODDIR=$PKGROOT/lib/modules/$KVER-amd64
	KSRC_TAR=$PKGROOT/usr/src/linux-source-$KSERIES.tar.xz
}
