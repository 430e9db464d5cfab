#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build Debian 13's QEMU with kvm-split's patch series (contrib/qemu/):
# qemu-system-x86_64 only, with KVM and without TCG, the default devices
# or the optional features, in the Debian 13 build root so that its
# compiler and libraries are those of the QEMU it stands in for.
#
#   contrib/qemu/build.sh            fetch, patch, configure, build
#   contrib/qemu/build.sh source     fetch and patch only
#
# The source is Debian's own source package (qemu, from trixie, through a
# private deb-src apt configuration in build/apt/trixie-src/; the machine's
# apt sources are never read or changed), unpacked with dpkg-source so that
# Debian's patches are in, then the series applied with patch -p1.  Nothing
# of QEMU is committed.  QEMU_DEB_VERSION=<version> picks another version
# than the newest trixie has.
#
# Cache, all under build/qemu/:
#   src/        the downloaded .dsc, .orig and .debian tarballs
#   tree/       the patched source; a rebuild unpacks and patches afresh
#               into stage/ and copies only the files whose contents
#               changed into tree/ (rsync -c, mtimes of the unchanged
#               files kept), so ninja recompiles only what
#               a changed patch touches
#   obj/        the meson build directory; qemu-system-x86_64 is in it
#   bin/        qemu-system-x86_64, the result, copied out of obj/
# Firmware (SeaBIOS, the
# option ROMs for -kernel) is Debian's: Debian strips the prebuilt blobs
# from its source, so the binary looks for them where qemu-system-data
# installs them, as Debian's own build does.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/lib.sh"

Q=$BUILD/qemu
SERIES=$top/contrib/qemu/series
PATCHES=$top/contrib/qemu/patches
# The device set, copied into the tree where configure looks for it.
DEVICES=$top/contrib/qemu/x86_64-kvm-split.mak
# The version the series was written and tested against.
TESTED=1:10.0.13+ds-0+deb13u1
JOBS=${JOBS:-2}
# Packages configure and the build need in the Debian 13 root.
ROOT_DEPS=(python3 python3-venv meson ninja-build pkgconf libglib2.0-dev zlib1g-dev)
CONFIGURE=(--target-list=x86_64-softmmu --without-default-features
	   --without-default-devices
	   --with-devices-x86_64=kvm-split
	   --enable-kvm --disable-tcg
	   --disable-docs --disable-tools --disable-install-blobs
	   --disable-fdt --disable-download
	   --disable-werror
	   --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu)

# A private apt configuration with deb-src lines only: the build root's
# and the kernel's (apt_ready trixie) stay binary-only.
src_apt_ready() {
	local d=$BUILD/apt/trixie-src src k=$APT_KEYRING
	local m=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local sm=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

	apt_opts trixie-src
	src="deb-src [signed-by=$k] $m trixie main
deb-src [signed-by=$k] $m trixie-updates main
deb-src [signed-by=$k] $sm trixie-security main"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/preferences.d"
	if [ "$(cat "$d/sources.list" 2>/dev/null)" != "$src" ]; then
		printf '%s\n' "$src" >"$d/sources.list"
		rm -f "$d/.updated"
	fi
	if [ "${KVM_SPLIT_APT_UPDATE:-0}" = 1 ] || [ ! -e "$d/.updated" ] ||
	   [ -n "$(find "$d/.updated" -mmin +"${KVM_SPLIT_APT_MAX_AGE:-1440}")" ]; then
		info "updating the source lists of trixie (${d#"$top"/})"
		apt-get "${APT_OPTS[@]}" update -q >"$d/update.log" 2>&1 ||
			{ cat "$d/update.log" >&2; die "apt-get update (deb-src trixie) failed"; }
		touch "$d/.updated"
	fi
}

fetch() {
	src_apt_ready
	VERSION=${QEMU_DEB_VERSION:-$(apt-cache "${APT_OPTS[@]}" showsrc qemu 2>/dev/null |
		sed -n 's/^Version: //p' | sort -V -r | sed -n 1p)}
	[ -n "$VERSION" ] || die "no qemu source package in trixie's lists"
	[ "$VERSION" = "$TESTED" ] ||
		info "warning: qemu $VERSION; the series was tested on $TESTED"
	DSC=$Q/src/qemu_${VERSION#*:}.dsc
	mkdir -p "$Q/src"
	if [ ! -f "$DSC" ]; then
		info "downloading the qemu $VERSION source package (trixie)"
		(cd "$Q/src" && apt-get "${APT_OPTS[@]}" source --download-only -q \
			"qemu=$VERSION" >"$Q/fetch.log" 2>&1) ||
			{ cat "$Q/fetch.log" >&2; die "cannot download qemu=$VERSION"; }
	fi
}

# The stamp of a patched tree: the source package and the series.
tree_stamp() {
	{
		echo "$VERSION"
		cat "$SERIES" "$DEVICES"
		grep -v '^#' "$SERIES" | while read -r p; do
			[ -n "$p" ] && cat "$PATCHES/$p"
		done
	} | sha256sum | cut -c1-16
}

source_tree() {
	local stamp p

	stamp=$(tree_stamp)
	if [ "$(cat "$Q/tree/.kvm-split-stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	info "unpacking qemu $VERSION and applying contrib/qemu/series"
	rm -rf "$Q/stage"
	dpkg-source --no-check -x "$DSC" "$Q/stage" >"$Q/unpack.log" 2>&1 ||
		{ tail -n 20 "$Q/unpack.log" >&2; die "dpkg-source -x failed"; }
	while read -r p; do
		case "$p" in '' | '#'*) continue ;; esac
		patch -d "$Q/stage" -p1 -F0 --no-backup-if-mismatch -s \
			<"$PATCHES/$p" >>"$Q/unpack.log" 2>&1 ||
			{ tail -n 20 "$Q/unpack.log" >&2; die "$p does not apply to qemu $VERSION"; }
	done <"$SERIES"
	# The imported header must be kvm-split's own.
	cmp -s "$Q/stage/linux-headers/linux/kvm_split.h" \
		"$top/include/uapi/linux/kvm_split.h" ||
		die "contrib/qemu's linux-headers/linux/kvm_split.h differs from include/uapi/linux/kvm_split.h: refresh the patch"
	cp "$DEVICES" "$Q/stage/configs/devices/x86_64-softmmu/kvm-split.mak"
	echo "$stamp" >"$Q/stage/.kvm-split-stamp"
	mkdir -p "$Q/tree"
	rsync -rlp -c --delete "$Q/stage/" "$Q/tree/"
	rm -rf "$Q/stage"
}

build() {
	local want start

	"$top/scripts/debian-root.sh" create trixie "${ROOT_DEPS[@]}" ||
		die "cannot prepare the trixie build root"
	want="${CONFIGURE[*]}"
	if [ ! -f "$Q/obj/build.ninja" ] ||
	   [ "$(cat "$Q/obj/.kvm-split-configure" 2>/dev/null)" != "$want" ]; then
		info "configuring qemu (${want})"
		rm -rf "$Q/obj"
		mkdir -p "$Q/obj"
		(cd "$Q/obj" && nice -n 10 "$top/scripts/debian-root.sh" run trixie -- \
			"$Q/tree/configure" "${CONFIGURE[@]}") >"$Q/configure.log" 2>&1 ||
			{ tail -n 30 "$Q/configure.log" >&2; die "configure failed (log: ${Q#"$top"/}/configure.log)"; }
		echo "$want" >"$Q/obj/.kvm-split-configure"
	fi
	info "building qemu-system-x86_64 (-j$JOBS, log: ${Q#"$top"/}/build.log)"
	start=$(date +%s)
	(cd "$Q/obj" && nice -n 10 "$top/scripts/debian-root.sh" run trixie -- \
		ninja -j"$JOBS" qemu-system-x86_64) >"$Q/build.log" 2>&1 ||
		{ grep -B2 -A8 -m5 'error' "$Q/build.log" >&2; die "build failed (log: ${Q#"$top"/}/build.log)"; }
	# Outside the build directory (no qemu-bundle/ beside it), QEMU looks
	# for its firmware in the configured --firmwarepath.
	mkdir -p "$Q/bin"
	cp "$Q/obj/qemu-system-x86_64" "$Q/bin/qemu-system-x86_64.new"
	mv "$Q/bin/qemu-system-x86_64.new" "$Q/bin/qemu-system-x86_64"
	info "built ${Q#"$top"/}/bin/qemu-system-x86_64 in $(($(date +%s) - start))s"
}

[ "$(id -u)" = 0 ] || die "building in the Debian 13 root needs root"
fetch
source_tree
[ "${1:-}" = source ] && exit 0
build
