#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build KVM selftests, static, with the upstream framework of the target
# kernel's own source (tools/testing/selftests/kvm).  kvm-split's tests in
# selftests/ are built by the same upstream Makefile: the build tree gets a
# kvm_split -> <repo>/selftests link, nothing is copied into the repo.
#
#   build-selftests.sh <test> ...    e.g. dirty_log_test kvm_split/foo_test
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel

# A KSRC= tree is used as it is (assemble.sh copies only its KVM sources).
LINUX=${KSRC:-$BUILD/$KVER/linux}
OUT=$BUILD/$KVER/selftests
[ -n "${KSRC:-}" ] || [ -e "$LINUX/.kvm-split-extracted" ] || "$top/scripts/assemble.sh"
[ -d "$LINUX/tools/testing/selftests/kvm" ] ||
	die "$LINUX has no tools/testing/selftests/kvm (KSRC= trees need the full source)"

if [ ! -e "$LINUX/usr/.kvm-split-headers" ]; then
	info "installing uapi headers for the selftests"
	make -s -C "$LINUX" headers_install INSTALL_HDR_PATH="$LINUX/usr" >/dev/null
	touch "$LINUX/usr/.kvm-split-headers"
fi
ln -sfn "$top/selftests" "$LINUX/tools/testing/selftests/kvm/kvm_split"
mkdir -p "$OUT"
make -s -C "$LINUX/tools/testing/selftests/kvm" OUTPUT="$OUT" \
	TEST_GEN_PROGS_x86_64="$*" TEST_GEN_PROGS_EXTENDED_x86_64= \
	EXTRA_CFLAGS="-static -I$top/include/uapi" -j"$(nproc)"
# The test-only delay module (selftests/kmod), built against the target
# kernel's headers, goes next to the tests that load it.
mkdir -p "$OUT/kmod"
cp "$top"/selftests/kmod/Kbuild "$top"/selftests/kmod/*.c "$OUT/kmod/"
make -s -C "$KDIR" M="$OUT/kmod" -j"$(nproc)" modules
install -D -m 644 "$OUT/kmod/kvm_split_delay.ko" "$OUT/kvm_split/kvm_split_delay.ko"
# Shell tests, run by the test VM's busybox, are installed as they are.
for t in "$top"/selftests/*_test.sh; do
	install -D -m 755 "$t" "$OUT/kvm_split/$(basename "$t")"
done
