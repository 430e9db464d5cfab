#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The from-source path of "On a real host" in the README, run for real on
# a Debian 13 host (make -C selftests run-hostmake): a kvm-split checkout
# in the Debian 13 host image (scripts/host-image.sh), then, as root in
# the test VM booted from it with no KVM loaded, "make install", "make
# load", "make -C selftests run-host", "make unload" and "make uninstall",
# each a step of selftests/hostmake.list (selftests/hostmake_test.sh).
#
#   hostmake-run.sh <hostmake.list> [test ...]
#
# The checkout is the committed tree (git archive HEAD), as a clone has
# it, at /ks/extra/kvm-split, where the VM mounts its payload.  Building
# KVM under TCG takes about 50 minutes (DKMS_FORM=full), so the operator's
# first "make" (and "make -C selftests build") runs natively first, in a
# chroot of an overlay of the same image with the checkout bind-mounted at
# that same path: setup.sh installs its tools with apt there and builds.
# The VM then gets the checkout with that build/ (its kbuild .cmd files
# name the same paths), and the package lists and .debs the chroot's apt
# downloaded (the VM has no network: they stand in for the archive), so
# the VM's "make install" runs the whole chain for real (setup.sh installs
# the tools with apt, assemble.sh, kbuild, the vermagic check) and finds
# the modules up to date; hostmake_test.sh fails if it compiled any.
# The checkout's build/cache/ and build/apt/ are seeded with this
# machine's downloads of the same kernel packages (a cache, not a build).
#
# Logs in build/hostmake-logs/ (HOSTMAKE_LOGS=).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

[ $# -ge 1 ] || die "usage: $0 <hostmake.list> [test ...]"
LIST=$1
shift
LOGS=${HOSTMAKE_LOGS:-$BUILD/hostmake-logs}
mkdir -p "$LOGS"
# Where the VM mounts the payload's extra/ (scripts/vm-run.sh), and so
# where the checkout lives, in the VM and in the chroot.
X=/ks/extra

t0=$(date +%s)
IMG=$("$top/scripts/host-image.sh" build) || die "no host image"
resolve_kernel
K1=$KVER
rev=$(git -C "$top" rev-parse --short HEAD) || die "$top is not a git checkout"

P=$(mktemp -d "$BUILD/hostmake-payload.XXXXXX")
M=$(mktemp -d "$BUILD/hostmake-chroot.XXXXXX")
cleanup() {
	umount "$M/merged$X" 2>/dev/null
	umount "$M/merged" 2>/dev/null
	rm -rf "$P" "$M"
}
trap cleanup EXIT

info "checkout of $rev (git archive HEAD) in ${P#"$top"/}/kvm-split ($X/kvm-split in the chroot and the VM)"
mkdir -p "$P/kvm-split/build/cache" "$P/kvm-split/build/apt"
git -C "$top" archive HEAD | tar -xf - -C "$P/kvm-split" || die "git archive failed"
for n in $(kernel_pkgs "$KSUITE" "$KABI" "$KSERIES" "$KFLAVOUR"); do
	cp "$CACHE/${n}_${KPKGVER}_"*.deb "$P/kvm-split/build/cache/" 2>/dev/null || true
done
[ ! -d "$BUILD/apt/$KSUITE" ] || cp -a "$BUILD/apt/$KSUITE" "$P/kvm-split/build/apt/"

fails=0
: >"$LOGS/native.log"
check() {	# check <what> <cmd ...>: a native step, logged
	local what=$1 t
	shift
	t=$(date +%s)
	echo "### $what" >>"$LOGS/native.log"
	if "$@" >>"$LOGS/native.log" 2>&1; then
		echo "# native: ok: $what ($(($(date +%s) - t))s)"
	else
		echo "# native: FAIL: $what ($(($(date +%s) - t))s; see ${LOGS#"$top"/}/native.log)"
		fails=$((fails + 1))
	fi
}
inroot() { nice -n 10 "$top/scripts/debian-root.sh" run "$M/merged" -- "$@"; }

mkdir -p "$M/upper" "$M/work" "$M/merged"
mount -t overlay overlay -o "lowerdir=$IMG/root,upperdir=$M/upper,workdir=$M/work" "$M/merged" ||
	die "cannot mount an overlay of $IMG/root"
mkdir -p "$M/merged$X"
mount --bind "$P" "$M/merged$X" || die "cannot bind-mount the payload at $X"
# The operator's first make, on the image's Debian 13: KVER= names the
# image's kernel, which the VM's make targets as the running one.
check "make KVER=$K1 in $X/kvm-split (setup.sh installs the tools with apt, builds KVM)" \
	inroot env KVER="$K1" make -C "$X/kvm-split" JOBS=2
check "make -C selftests build KVER=$K1" \
	inroot env KVER="$K1" make -C "$X/kvm-split/selftests" build
# The package lists and .debs setup.sh's apt fetched, for the VM's apt.
mkdir -p "$P/apt/lists" "$P/apt/archives"
cp -a "$M/merged/var/lib/apt/lists/." "$P/apt/lists/" &&
	rm -rf "$P/apt/lists/lock" "$P/apt/lists/partial" &&
	cp "$M/merged/var/cache/apt/archives/"*.deb "$P/apt/archives/" 2>/dev/null
echo "# native: apt fetched $(find "$P/apt/archives" -name '*.deb' | wc -l) .debs" \
	"($(du -sh "$P/apt/archives" | cut -f1)) for setup.sh's tools"
umount "$M/merged$X"
umount "$M/merged"
echo "# native: $fails failed; took $(($(date +%s) - t0))s in all (log ${LOGS#"$top"/}/native.log);" \
	"payload $(du -sh "$P" | cut -f1)"
[ $fails = 0 ] || exit 1

t=$(date +%s)
VM_ROOT=debian VM_MODULES=0 VM_PAYLOAD=$P "$top/scripts/vm-run.sh" "$LIST" "$@"
rc=$?
echo "# VM part took $(($(date +%s) - t))s, all $(($(date +%s) - t0))s"
exit $rc
