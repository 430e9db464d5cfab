#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the kvm-split-dkms Debian package (make deb): kvm-split's sources,
# hook patches and build scripts in /usr/src/kvm-split-<version>/ with a
# dkms.conf whose build step (scripts/dkms-build.sh) assembles KVM from
# the linux-source package of the kernel DKMS builds for.  Installing it
# builds and installs kvm.ko, kvm-amd.ko and kvm-intel.ko for the running
# kernel (and each kernel installed later, DKMS's kernel hooks) into
# /lib/modules/<release>/updates/dkms, where modprobe finds them before
# the distro's; removing it brings the distro's modules back.
#
#   make-deb.sh [<outdir>]     default build/deb/
#
# The version is 0.<commits>+g<commit> of the checkout (DEB_VERSION=
# overrides it).  Needs only dpkg-deb (no debhelper): the maintainer
# scripts are what dh_dkms writes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

OUT=${1:-$BUILD/deb}
NAME=kvm-split
PKG=kvm-split-dkms
if [ -z "${DEB_VERSION:-}" ]; then
	DEB_VERSION=0.$(git -C "$top" rev-list --count HEAD 2>/dev/null || echo 0)
	c=$(git -C "$top" rev-parse --short=7 HEAD 2>/dev/null) && DEB_VERSION+=+g$c
fi
VER=$DEB_VERSION
command -v dpkg-deb >/dev/null || die "dpkg-deb missing (apt install dpkg)"

W=$(mktemp -d "$BUILD/deb.XXXXXX")
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
S=$W/usr/src/$NAME-$VER
mkdir -p "$S/scripts" "$W/DEBIAN" "$W/usr/share/doc/$PKG" "$W/usr/share/$PKG" "$OUT"

# Sources: what assemble.sh takes from the repository, and the scripts
# of the build step.
(cd "$top" && tar -cf - Kbuild LICENSE mmu dirty_log virt arch include) | tar -xf - -C "$S"
for f in lib.sh assemble.sh compat-probe.sh check-vermagic.sh dkms-build.sh; do
	install -m 755 "$top/scripts/$f" "$S/scripts/$f"
done
chmod 644 "$S/scripts/lib.sh"

# Debian kernels kvm-split has hook patches for (lib.sh's KTARGETS):
# DKMS skips other kernels rather than fail on them.
cat >"$S/dkms.conf" <<EOF
PACKAGE_NAME="$NAME"
PACKAGE_VERSION="$VER"
# KVM assembled from /usr/src/linux-source-<series>.tar.xz of the kernel's
# exact version, with kvm-split's hooks (scripts/dkms-build.sh).
MAKE[0]="bash scripts/dkms-build.sh \${kernelver} \${kernel_source_dir}"
CLEAN="rm -rf build built"
BUILT_MODULE_NAME[0]="kvm"
BUILT_MODULE_LOCATION[0]="built/"
DEST_MODULE_LOCATION[0]="/updates/dkms"
BUILT_MODULE_NAME[1]="kvm-amd"
BUILT_MODULE_LOCATION[1]="built/"
DEST_MODULE_LOCATION[1]="/updates/dkms"
BUILT_MODULE_NAME[2]="kvm-intel"
BUILT_MODULE_LOCATION[2]="built/"
DEST_MODULE_LOCATION[2]="/updates/dkms"
BUILD_EXCLUSIVE_ARCH="x86_64"
BUILD_EXCLUSIVE_KERNEL="^(6\\.12\\.[0-9]+\\+deb1[23]|7\\.[0-9]+\\.[0-9]+\\+deb13|6\\.1\\.0-[0-9]+)(\\.[0-9]+)?-"
AUTOINSTALL="yes"
EOF

cat >"$W/DEBIAN/control" <<EOF
Package: $PKG
Version: $VER
Architecture: all
Section: kernel
Priority: optional
Maintainer: kvm-split <kvm-split@invalid>
Depends: dkms (>= 3.0), linux-source-6.12 | linux-source-7.3 | linux-source-6.1, kmod, patch, rsync, xz-utils, make, gcc
Installed-Size: $(du -sk "$W/usr" | cut -f1)
Homepage: https://example.invalid/kvm-split
Description: kvm-split KVM modules in DKMS source form
 Rebuilds the running Debian kernel's own KVM (kvm.ko, kvm-amd.ko,
 kvm-intel.ko) from that kernel's linux-source package with kvm-split's
 hooks: KVM_SPLIT_HUGE_PAGES, per-memslot page-size caps and chunked
 KVM_CLEAR_DIRTY_LOG for smoother live migration of large VMs.
 .
 The build needs linux-source-<series> at the kernel's exact package
 version (e.g. linux-source-6.12=6.12.118-1 for 6.12.118+deb13-amd64)
 and the kernel's headers. Modules go to /lib/modules/<release>/updates/dkms,
 ahead of the distro's for modprobe.
EOF

# What dh_dkms writes.
cat >"$W/DEBIAN/postinst" <<EOF
#!/bin/sh
set -e
case "\$1" in
configure)
	/usr/lib/dkms/common.postinst $NAME $VER /usr/share/$PKG "" "\$2" ;;
esac
EOF
cat >"$W/DEBIAN/prerm" <<EOF
#!/bin/sh
set -e
case "\$1" in
remove|upgrade|deconfigure)
	if [ "\$(dkms status -m $NAME -v $VER)" ]; then
		dkms remove -m $NAME -v $VER --all
	fi ;;
esac
EOF
chmod 755 "$W/DEBIAN/postinst" "$W/DEBIAN/prerm"

cat >"$W/usr/share/doc/$PKG/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kvm-split

Files: *
License: GPL-2.0
 On Debian systems the full text is in /usr/share/common-licenses/GPL-2.
EOF
[ ! -f "$top/Documentation/dkms.rst" ] ||
	install -m 644 "$top/Documentation/dkms.rst" "$W/usr/share/doc/$PKG/"

deb=$OUT/${PKG}_${VER}_all.deb
rm -f "$OUT/${PKG}"_*_all.deb
dpkg-deb --root-owner-group -Zxz --build "$W" "$deb" >/dev/null || die "dpkg-deb failed"
info "built ${deb#"$top"/}"
echo "$deb"
