#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The build step of the kvm-split-dkms package (dkms.conf's MAKE): build
# kvm.ko, kvm-amd.ko and kvm-intel.ko for one installed Debian kernel from
# that kernel's own source, the linux-source-<series> package at the
# kernel's exact package version, and leave them in built/ for DKMS to
# install (into /lib/modules/<release>/updates/dkms, which modprobe
# prefers over the distro's kernel/).
#
#   dkms-build.sh <release> [<headers dir>]
#
# Run by DKMS in its copy of the package's source
# (/var/lib/dkms/kvm-split/<version>/build).  The KVM sources are taken
# from /usr/src/linux-source-<series>.tar.xz and assembled with our hook
# patches by scripts/assemble.sh, exactly as "make" does from the
# downloaded package; only arch/x86/kvm, virt/kvm and the KVM headers are
# extracted.  A missing source package, or one of another version than
# the kernel's, stops the build with a message naming the package and
# version to install: KVM built from another point release's source would
# load, but would not be that kernel's KVM.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$top/build
. "$top/scripts/lib.sh"

[ $# -ge 1 ] || die "usage: $0 <kernel release> [<headers dir>]"
rel=$1
kdir=${2:-/lib/modules/$rel/build}
parse_release "$rel" && [ -n "$KFLAVOUR_IN" ] ||
	die "$rel is not a Debian kernel release (such as 6.12.118+deb13-amd64)"
series_supported "$KSERIES" ||
	die "kernel $rel: kvm-split has no hook patches for the $KSERIES series; supported: $(supported_list)"
[ -f "$kdir/Makefile" ] ||
	die "no kernel headers for $rel in $kdir: apt install linux-headers-$rel"

# pkgver <package>: its version when its files are on the system: it is
# installed, or being configured (DKMS's kernel hook runs from the
# headers' postinst, and the source may be configured after them).
pkgver() {
	dpkg-query -W -f '${db:Status-Status} ${Version}\n' "$1" 2>/dev/null |
		awk '$1 ~ /^(installed|half-configured|unpacked|triggers-awaited|triggers-pending)$/ { print $2 }'
}

# The kernel's Debian package version: its headers' (DKMS needs them),
# else its image's.
kpkgver=
for p in "linux-headers-$rel" "linux-image-$rel" "linux-image-$rel-unsigned"; do
	kpkgver=$(pkgver "$p")
	[ -z "$kpkgver" ] || break
done
[ -n "$kpkgver" ] || die "kernel $rel: neither linux-headers-$rel nor linux-image-$rel is installed"
src=linux-source-$KSERIES
tarball=/usr/src/$src.tar.xz
srcver=$(pkgver "$src")
if [ -z "$srcver" ] || [ ! -f "$tarball" ]; then
	die "building KVM for $rel needs its source: package $src version $kpkgver is not installed (apt install $src=$kpkgver)"
fi
[ "$srcver" = "$kpkgver" ] ||
	die "building KVM for $rel needs $src version $kpkgver, but $srcver is installed (apt install $src=$kpkgver; an older point release's source is on snapshot.debian.org)"

W=$top/build/src-$rel
rm -rf "$W" "$top/built"
mkdir -p "$W" "$top/built"
info "extracting KVM from $tarball ($src $srcver)"
tar -xf "$tarball" -C "$W" --strip-components=1 --wildcards \
	"$src/Makefile" "$src/arch/x86/kvm" "$src/virt/kvm" \
	"$src/include/linux/kvm_host.h" "$src/include/linux/kvm_types.h" ||
	die "cannot extract KVM from $tarball"
# The source must be the kernel's upstream release (its Makefile says so;
# Debian 12's 6.1.0-N names only the series).
v=$(awk '$1 == "VERSION" { v = $3 } $1 == "PATCHLEVEL" { p = $3 }
	$1 == "SUBLEVEL" { s = $3 } END { print v "." p "." s }' "$W/Makefile")
case "$rel" in
"$v"+*) ;;
6.1.0-*) [ "${v%.*}" = 6.1 ] || die "$tarball is Linux $v, not the source of $rel" ;;
*) die "$tarball is Linux $v, not the source of $rel" ;;
esac

# assemble.sh's KSRC= path: build/<release>/kvm from that tree.
KSRC=$W KVER=$rel KDIR=$kdir KROOT=host "$top/scripts/assemble.sh"
asm=$top/build/$rel/kvm
info "building KVM for $rel"
make -C "$kdir" M="$asm/arch/x86/kvm" NOSTDINC_FLAGS="-I$asm/include/override" \
	-j"$(nproc)" modules
for m in kvm kvm-amd kvm-intel; do
	cp "$asm/arch/x86/kvm/$m.ko" "$top/built/" || die "$m.ko was not built"
done
KSRC=$W KVER=$rel KDIR=$kdir KROOT=host "$top/scripts/check-vermagic.sh" "$top/built"
info "built $(cd "$top/built" && echo *.ko) for $rel"
