#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian 13 host image: a real Debian host for the test VM, with kmod
# (modprobe, depmod), dkms, the target kernel's image, headers and
# linux-source at its exact version, Debian's QEMU and python3.  The
# busybox initramfs of scripts/vm-run.sh cannot show what operators do
# (apt install a DKMS package, modprobe, /etc/modprobe.d, a real VMM);
# this image can, booted by "VM_ROOT=debian scripts/vm-run.sh".
#
#   host-image.sh build      make the image (or reuse it); prints its dir
#   host-image.sh path       print the image's directory (built or not)
#   host-image.sh run [--] <cmd> ...   run a command in a chroot of the
#                            image's root (scripts/debian-root.sh run): the
#                            same Debian 13 userland, natively
#
# One recipe with the Debian 13 build root (scripts/debian-root.sh): its
# sources and toolchain packages, plus HOST_PKGS, the target kernel's
# packages (the .debs scripts/setup.sh downloaded, so their versions are
# exact), the VM's init stub, and what is added to extend it:
#   HOSTIMG_PKGS="pkg ..."         more packages from trixie
#   HOSTIMG_DEBS="/a.deb ..."      local .debs (a patched QEMU, ...);
#                                  one that replaces a package of HOST_PKGS
#                                  should carry a higher version than the
#                                  archive's (e.g. +kvmsplit1), so that apt
#                                  prefers it (not tried yet)
# The image lives in build/hostimg/<recipe hash>/ (HOSTIMG_DIR=<dir>
# instead of build/hostimg: CI keeps it outside its clean clone) and is
# made again only when the recipe changes:
#   root/         the root filesystem (a directory; the chroot of "run")
#   root.ext4     the same as an ext4 image (mkfs.ext4 -d), the VM's
#                 /dev/vda; each boot writes to a qcow2 overlay of its own,
#                 so the image stays pristine
#   vmlinuz, initrd.img   the image's own kernel and initramfs-tools initrd
# Downloaded .debs are shared with the build root's cache
# (build/cache/roots/trixie/).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

SUITE=trixie

# What a Debian KVM host running kvm-split has, and what the tests in it
# use: kmod and dkms (with openssl for its signing key), Debian's
# initramfs (the VM boots it like a host), QEMU and python3 for real VMMs
# (QMP), busybox for the shell of the KS-* protocol script
# (scripts/guest-init.sh), procps, e2fsprogs, mawk.
HOST_PKGS="kmod dkms openssl initramfs-tools busybox qemu-system-x86
	   qemu-utils python3 procps e2fsprogs mawk util-linux less"

# Headroom in the ext4 image over its contents: a DKMS build (the KVM
# sources and objects), a second kernel, test data.
IMG_SPARE_MB=${HOSTIMG_SPARE_MB:-6144}

usage() { sed -n '/^#   host-image/s/^#   //p' "$0" >&2; exit 2; }

# The VM's init: Debian's initramfs mounts /dev/vda as / and runs this
# (init=/sbin/ks-init).  It mounts the run's payload disk (/dev/vdb:
# tests, modules, packages) and hands over to its init, the KS-* protocol
# script (scripts/guest-init.sh), which knows it runs on a Debian root
# from KS_ROOT.
stub() {
	cat <<'EOF'
#!/bin/sh
# kvm-split test VM: mount the run's payload (/dev/vdb) and run its init.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin KS_ROOT=debian
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /ks
if ! mount -t ext4 /dev/vdb /ks; then
	echo "KS-FATAL no payload disk /dev/vdb" >/dev/ttyS1
	exec /bin/busybox poweroff -f
fi
ln -sfn /ks/tests /tests
ln -sfn /ks/modules /modules
exec /bin/busybox sh /ks/init
EOF
}

resolve_kernel
[ -z "${KSRC:-}" ] || die "the host image needs a Debian kernel (KSRC= is not one)"
[ "$KDIST" = deb13 ] || die "the host image is Debian 13: KVER=$KVER is a Debian ${KDIST#deb} kernel"

# kernel_debs: the target kernel's .debs (scripts/setup.sh fetches them).
kernel_debs() {
	local name deb
	for name in $(kernel_pkgs "$KSUITE" "$KABI" "$KSERIES" "$KFLAVOUR"); do
		deb=("$CACHE/${name}_${KPKGVER}_"*.deb)
		[ -f "${deb[0]}" ] || return 1
		echo "${deb[0]}"
	done
}

recipe() {
	local d
	"$top/scripts/debian-root.sh" recipe "$SUITE"
	echo "$HOST_PKGS ${HOSTIMG_PKGS:-}" | tr -s ' \t\n' ' '
	echo
	for d in $(kernel_debs) ${HOSTIMG_DEBS:-}; do
		echo "$(basename "$d") $(sha256sum <"$d" | cut -c1-16)"
	done
	stub
	echo "spare $IMG_SPARE_MB"
}

imgdir() { echo "${HOSTIMG_DIR:-$BUILD/hostimg}/$(recipe | sha256sum | cut -c1-16)"; }

build() {
	local D pkgs cache start debs=() d inc=() size
	kernel_debs >/dev/null || "$top/scripts/setup.sh" >&2
	# The VM boots on a qcow2 overlay of the image (vm-run.sh).
	command -v qemu-img >/dev/null || {
		info "installing qemu-utils (qemu-img)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			qemu-utils >/dev/null || die "cannot install qemu-utils"
	}
	D=$(imgdir)
	if [ -f "$D/.ready" ]; then
		echo "$D"
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "making the host image needs root"
	command -v mmdebstrap >/dev/null || "$top/scripts/setup.sh" --tools
	mapfile -t debs < <(kernel_debs)
	for d in ${HOSTIMG_DEBS:-}; do
		[ -f "$d" ] || die "HOSTIMG_DEBS: no $d"
		debs+=("$(cd "$(dirname "$d")" && pwd)/$(basename "$d")")
	done
	for d in "${debs[@]}"; do inc+=(--include="$d"); done
	pkgs=$(echo "$("$top/scripts/debian-root.sh" recipe "$SUITE" | tail -n 1) $HOST_PKGS ${HOSTIMG_PKGS:-}" |
		tr -s ' \t\n' ',')
	pkgs=${pkgs#,}
	cache=$BUILD/cache/roots/$SUITE
	mkdir -p "$cache" "$D"
	start=$(date +%s)
	info "making the Debian 13 host image in ${D#"$top"/} (mmdebstrap; log ${D#"$top"/}/build.log)"
	rm -rf "$D/root" "$D/root.ext4"
	stub >"$D/ks-init"
	# The kernel's postinst makes the initrd (initramfs-tools, MODULES=most:
	# virtio_blk and ext4 are modules in Debian's kernel).
	"$top/scripts/debian-root.sh" recipe "$SUITE" | sed -n '/^deb /p' |
	nice -n 10 mmdebstrap --mode=root --variant=apt --format=directory \
		--include="${pkgs%,}" "${inc[@]}" --skip=essential/unlink \
		--aptopt='Acquire::Retries "3"' \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $cache /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $cache" \
		--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
		--customize-hook="install -m 755 $D/ks-init \"\$1\"/sbin/ks-init" \
		--customize-hook='echo kvm-split-host >"$1"/etc/hostname' \
		--customize-hook='printf "/dev/vda / ext4 rw 0 1\n" >"$1"/etc/fstab' \
		"$SUITE" "$D/root" - >"$D/build.log" 2>&1 || {
			tail -n 20 "$D/build.log" >&2
			die "mmdebstrap failed (log: ${D#"$top"/}/build.log)"
		}
	[ -f "$D/root/boot/vmlinuz-$KVER" ] || die "the image has no /boot/vmlinuz-$KVER"
	if [ ! -f "$D/root/boot/initrd.img-$KVER" ]; then
		"$top/scripts/debian-root.sh" run "$D/root" -- update-initramfs -c -k "$KVER" \
			>>"$D/build.log" 2>&1 || die "update-initramfs failed (log: ${D#"$top"/}/build.log)"
	fi
	cp "$D/root/boot/vmlinuz-$KVER" "$D/vmlinuz"
	cp "$D/root/boot/initrd.img-$KVER" "$D/initrd.img"
	recipe >"$D/root/.kvm-split-recipe"
	info "host image root made in $(($(date +%s) - start))s; making root.ext4"
	size=$(( $(du -sm "$D/root" | cut -f1) + IMG_SPARE_MB ))
	nice -n 10 mkfs.ext4 -q -F -L kvm-split-host -d "$D/root" "$D/root.ext4" "${size}M" \
		>>"$D/build.log" 2>&1 || die "mkfs.ext4 -d failed (log: ${D#"$top"/}/build.log)"
	recipe >"$D/recipe"
	touch "$D/.ready"
	info "host image ready in $(($(date +%s) - start))s: ${D#"$top"/} ($(du -sh --apparent-size "$D/root.ext4" | cut -f1) image, $(du -sh "$D/root.ext4" | cut -f1) used)"
	echo "$D"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
build) build ;;
path) imgdir ;;
run)
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || usage
	D=$(build)
	"$top/scripts/debian-root.sh" run "$D/root" -- "$@" ;;
*) usage ;;
esac
