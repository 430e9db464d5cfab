# SPDX-License-Identifier: GPL-2.0
# Shared helpers for kvm-split's scripts: messages and kernel resolution.
# Sourced, not executed.  Expects $top to be the repository root.

info() { printf 'kvm-split: %s\n' "$*" >&2; }
die() { printf 'kvm-split: error: %s\n' "$*" >&2; exit 1; }

KSERIES=${KSERIES:-6.12}
BUILD=${BUILD:-$top/build}
CACHE=$BUILD/cache
PKGROOT=$BUILD/pkgs

# resolve_kernel: set KVER (Debian ABI name, e.g. 6.12.117+deb12), KPKGVER
# (package version), KDIR (headers dir for M= builds), VMLINUZ (guest
# kernel), KSRC_TAR (source tarball) or honour KSRC/KDIR given by the user.
resolve_kernel() {
	if [ -n "${KSRC:-}" ]; then
		[ -f "$KSRC/Makefile" ] && [ -d "$KSRC/arch/x86/kvm" ] ||
			die "KSRC=$KSRC is not a kernel tree (no arch/x86/kvm)"
		KSRC=$(cd "$KSRC" && pwd)
		KVER=${KVER:-$(make -s -C "$KSRC" kernelversion 2>/dev/null)}
		KDIR=${KDIR:-$KSRC}
		KSERIES=$(echo "$KVER" | cut -d. -f1-2)
		VMLINUZ=${VMLINUZ:-$KSRC/arch/x86/boot/bzImage}
		return 0
	fi
	# A fresh machine may have no package lists yet.
	if [ -z "$(apt-cache policy "linux-source-$KSERIES" 2>/dev/null)" ] &&
	   [ "$(id -u)" = 0 ]; then
		info "apt has no package lists: running apt-get update"
		apt-get update -q >/dev/null 2>&1 || true
	fi
	if [ -z "${KVER:-}" ]; then
		KPKGVER=$(apt-cache policy "linux-source-$KSERIES" 2>/dev/null |
			  awk '/Candidate:/ { print $2 }')
		[ -n "$KPKGVER" ] && [ "$KPKGVER" != "(none)" ] ||
			die "no linux-source-$KSERIES package known to apt (run apt-get update, or set KSRC=)"
		KVER="${KPKGVER%%-*}+deb12"
	else
		KPKGVER=$(apt-cache policy "linux-image-$KVER-amd64-unsigned" 2>/dev/null |
			  awk '/Candidate:/ { print $2 }')
		KSERIES=$(echo "$KVER" | cut -d. -f1-2)
	fi
	[ -n "$KPKGVER" ] && [ "$KPKGVER" != "(none)" ] ||
		die "KVER=$KVER: no linux-image-$KVER-amd64-unsigned package is available"
	local p v
	for p in "linux-source-$KSERIES" "linux-headers-$KVER-amd64" \
		 "linux-headers-$KVER-common" "linux-image-$KVER-amd64-unsigned"; do
		v=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ { print $2 }')
		[ "$v" = "$KPKGVER" ] ||
			die "KVER=$KVER: $p is at '${v:-missing}', not $KPKGVER; source, headers and image must match"
	done
	KDIR=${KDIR:-$PKGROOT/usr/src/linux-headers-$KVER-amd64}
	VMLINUZ=$PKGROOT/boot/vmlinuz-$KVER-amd64
	KMODDIR=$PKGROOT/lib/modules/$KVER-amd64
	KSRC_TAR=$PKGROOT/usr/src/linux-source-$KSERIES.tar.xz
}
