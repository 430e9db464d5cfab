#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The DKMS package on a real Debian 13 host (make -C selftests run-debian):
# build the package (scripts/make-deb.sh) and the host image
# (scripts/host-image.sh), then boot the image with no KVM loaded and run
# selftests/debian.list, whose steps install the package with apt, load
# KVM with modprobe, run tests on it and remove it
# (selftests/dkms_test.sh).
#
#   dkms-run.sh <debian.list> [test ...]
#
# DKMS_FORM=full   apt install in the VM compiles KVM there, under TCG
#                  (about 50 minutes of the run)
# DKMS_FORM=ci     (default) the same image, natively, in a chroot of an
#                  overlay of it first: apt install builds there (a
#                  minute or two), and the VM's apt install loads that
#                  build (dkms mktarball/ldtarball, DKMS's binary package
#                  path) instead of compiling; everything else runs in
#                  the VM
# Natively, in the chroot, in both forms: modinfo -k shows updates/dkms
# ahead of kernel/; the build step refuses a missing linux-source and one
# of another version, naming the package and version; and, with KVER2=
# (default: the newest Debian 13 7.x, from trixie-backports; KVER2=none
# leaves it out), installing a second kernel's headers and source runs
# its own DKMS build (the kernel hook).  DKMS_VM=0 stops after the native
# part.  Logs in build/dkms-logs/ (DKMS_LOGS=).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

LIST=$1
shift
FORM=${DKMS_FORM:-ci}
case "$FORM" in ci|full) ;; *) die "DKMS_FORM=$FORM: ci or full" ;; esac
LOGS=${DKMS_LOGS:-$BUILD/dkms-logs}
mkdir -p "$LOGS"

t0=$(date +%s)
IMG=$("$top/scripts/host-image.sh" build) || die "no host image"
info "host image ready after $(($(date +%s) - t0))s"
DEB=$("$top/scripts/make-deb.sh" | tail -n 1) || die "make deb failed"
VER=$(dpkg-deb -f "$DEB" Version)
resolve_kernel
K1=$KVER

P=$(mktemp -d "$BUILD/dkms-payload.XXXXXX")
M=$(mktemp -d "$BUILD/dkms-chroot.XXXXXX")
cleanup() {
	umount "$M/merged" 2>/dev/null
	rm -rf "$P" "$M"
}
trap cleanup EXIT
cp "$DEB" "$P/"

fails=0
check() {	# check <what> <cmd ...>: a native check, logged
	local what=$1
	shift
	if "$@" >>"$LOGS/native.log" 2>&1; then
		echo "# native: ok: $what"
	else
		echo "# native: FAIL: $what (see ${LOGS#"$top"/}/native.log)"
		fails=$((fails + 1))
	fi
}
inroot() { "$top/scripts/debian-root.sh" run "$M/merged" -- "$@"; }

# The second kernel: its headers, kbuild and source (setup.sh fetches them).
K2=
if [ "${KVER2:-}" != none ]; then
	if [ -z "${KVER2:-}" ]; then
		l=$(kernel_abis deb13 7.x amd64 1) && [ -n "$l" ] ||
			die "no Debian 13 7.x kernel for the second kernel (KVER2=)"
		KVER2=${l% *}-amd64
	fi
	K2=$KVER2
	KVER=$K2 "$top/scripts/setup.sh" >"$LOGS/kernel2-setup.log" 2>&1 ||
		die "cannot fetch $K2's packages (log ${LOGS#"$top"/}/kernel2-setup.log)"
	# Headers, kbuild and source: what DKMS needs (its hook runs when the
	# headers are installed; 7.x's headers depend on linux-base-).
	k2debs=$(KVER=$K2 bash -c 'top=$1; . "$top/scripts/lib.sh"; resolve_kernel 2>/dev/null
		for n in $(kernel_pkgs "$KSUITE" "$KABI" "$KSERIES" "$KFLAVOUR"); do
			case $n in linux-image-*|linux-binary-*|linux-modules-*) continue ;; esac
			ls "$CACHE/${n}_${KPKGVER}_"*.deb || exit 1
		done' _ "$top") && [ -n "$k2debs" ] ||
		die "$K2's packages are not in ${CACHE#"$top"/}"
fi

# Native: an overlay of the image's root, so the image stays pristine.
: >"$LOGS/native.log"
mkdir -p "$M/upper" "$M/work" "$M/merged"
mount -t overlay overlay -o "lowerdir=$IMG/root,upperdir=$M/upper,workdir=$M/work" "$M/merged" ||
	die "cannot mount an overlay of $IMG/root"
t=$(date +%s)
check "apt install ./$(basename "$DEB") in a chroot of the image (DKMS builds for $K1)" \
	inroot env DEBIAN_FRONTEND=noninteractive apt-get install -y "$DEB"
echo "# native: apt install (DKMS build for $K1) took $(($(date +%s) - t))s"
check "modinfo -k $K1 -n kvm is updates/dkms" \
	inroot sh -c "modinfo -k $K1 -n kvm && modinfo -k $K1 -n kvm | grep -q /updates/dkms/"
check "modinfo -k $K1 -n kvm-amd is updates/dkms" \
	inroot sh -c "modinfo -k $K1 -n kvm-amd && modinfo -k $K1 -n kvm-amd | grep -q /updates/dkms/"
check "kvm.ko from updates/dkms has kvm-split's clear_dirty_log_chunk" \
	inroot sh -c "modinfo -k $K1 -F parm kvm | grep clear_dirty_log_chunk"
# The refusals, on a copy of the build step (it needs no DKMS to run).
series=$(echo "$K1" | cut -d. -f1-2)
src=/usr/src/kvm-split-$VER/scripts/dkms-build.sh
check "a missing linux-source-$series is refused, naming it and its version" \
	inroot sh -c "mv /usr/src/linux-source-$series.tar.xz /tmp/t.tar.xz &&
		! bash $src $K1 2>/tmp/err; r=\$?; mv /tmp/t.tar.xz /usr/src/linux-source-$series.tar.xz
		cat /tmp/err; [ \$r = 0 ] && grep -q 'package linux-source-$series version $KPKGVER is not installed' /tmp/err"
check "a linux-source-$series of another version is refused, naming the one needed" \
	inroot sh -c "cp /var/lib/dpkg/status /tmp/status &&
		sed -i '/^Package: linux-source-$series\$/,/^\$/s/^Version: .*/Version: 0.0-1/' /var/lib/dpkg/status &&
		! bash $src $K1 2>/tmp/err; r=\$?; cp /tmp/status /var/lib/dpkg/status
		cat /tmp/err; [ \$r = 0 ] && grep -q 'needs linux-source-$series version $KPKGVER, but 0.0-1 is installed' /tmp/err"
# The CI form's tarball holds the VM's kernel only: dkms 3.2.2's
# ldtarball loads the first kernel of a tarball and skips the others
# ("local: kernel_arch_to_load: readonly variable").
tarks=(-k "$K1")
if [ -n "$K2" ]; then
	t=$(date +%s)
	# The image keeps no package lists; the headers' own dependencies
	# (gcc-14-for-host) come from the archive.
	check "apt-get update in the chroot" inroot apt-get update -q
	# shellcheck disable=SC2086 # a list of .debs
	check "installing $K2's headers and source runs its own DKMS build (kernel hook)" \
		inroot env DEBIAN_FRONTEND=noninteractive apt-get install -y $k2debs
	echo "# native: installing $K2 (DKMS build through the hook) took $(($(date +%s) - t))s"
	check "dkms status: installed for $K2" \
		inroot sh -c "dkms status -m kvm-split -k $K2 && dkms status -m kvm-split -k $K2 | grep -q ': installed'"
	# With the headers alone DKMS leaves depmod to the kernel image's
	# postinst ("Skipping depmod because modules.dep is missing"): run
	# it as that postinst does.
	check "modinfo -k $K2 -n kvm is updates/dkms, built for $K2 (after depmod -a $K2)" \
		inroot sh -c "depmod -a $K2 && p=\$(modinfo -k $K2 -n kvm) && echo \$p && case \$p in */updates/dkms/*) ;; *) exit 1 ;; esac &&
			modinfo -F vermagic \$p | grep '^$K2 '"
fi
inroot dkms status >>"$LOGS/native.log" 2>&1
# DKMS's build logs (a failed build leaves its make.log in build/).
for f in "$M/merged/var/lib/dkms/kvm-split/$VER"/*/*/log/make.log \
	 "$M/merged/var/lib/dkms/kvm-split/$VER/build/make.log"; do
	[ -f "$f" ] || continue
	k=${f#"$M/merged/var/lib/dkms/kvm-split/$VER/"}
	cp "$f" "$LOGS/make-$(echo "${k%/make.log}" | tr / _).log"
done
if [ "$FORM" = ci ]; then
	rm -rf "$M/merged/var/lib/dkms/kvm-split/$VER/tarball"
	check "dkms mktarball ${tarks[*]}" inroot dkms mktarball -m kvm-split -v "$VER" "${tarks[@]}"
	tb=$(ls "$M/merged/var/lib/dkms/kvm-split/$VER/tarball/"*.dkms.tar.gz 2>/dev/null | head -n 1)
	[ -n "$tb" ] && cp "$tb" "$P/kvm-split-$VER.dkms.tar.gz" ||
		{ echo "# native: FAIL: no DKMS tarball"; fails=$((fails + 1)); }
fi
umount "$M/merged"
echo "# native: $fails failed; took $(($(date +%s) - t0))s in all (log ${LOGS#"$top"/}/native.log)"

if [ "${DKMS_VM:-1}" = 0 ]; then
	[ $fails = 0 ]
	exit
fi

# In the VM.
t=$(date +%s)
VM_ROOT=debian VM_MODULES=0 VM_PAYLOAD=$P "$top/scripts/vm-run.sh" "$LIST" "$@"
rc=$?
echo "# $FORM form: VM part took $(($(date +%s) - t))s, all $(($(date +%s) - t0))s"
[ $rc = 0 ] && [ $fails = 0 ]
