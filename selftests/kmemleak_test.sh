#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kmemleak_test: run last in the debug tier (selftests/debug.list).  Scans
# for leaks after the whole suite (the kernel's automatic scan is off),
# prints every suspected leak, and fails if one mentions KVM (kvm, kvm_amd,
# kvm_intel or kvm-split functions in its backtrace, or a KVM slab).
# Needs CONFIG_DEBUG_KMEMLEAK: a kernel without it fails the test.
set -u
K=/sys/kernel/debug/kmemleak

if [ ! -w $K ]; then
	echo "not ok - $K missing: this kernel has no kmemleak (CONFIG_DEBUG_KMEMLEAK)"
	exit 1
fi
# An object must stay unreferenced over two scans, some seconds apart
# (kmemleak ignores objects younger than 5 s), to be reported.
echo scan >$K || { echo "not ok - scan failed (kmemleak disabled?)"; exit 1; }
sleep 6
echo scan >$K
cat $K >/tmp/kmemleak.txt
n=$(grep -c '^unreferenced object' /tmp/kmemleak.txt)
echo "kmemleak: $n suspected leaks in all"
cat /tmp/kmemleak.txt
# One record per "unreferenced object" line: count those naming KVM.
k=$(awk '/^unreferenced object/ { if (rec ~ /kvm/) n++; rec = "" }
	 { rec = rec "\n" $0 }
	 END { if (rec ~ /kvm/) n++; print n + 0 }' /tmp/kmemleak.txt)
if [ "$k" != 0 ]; then
	echo "not ok - $k suspected leaks mention KVM"
	exit 1
fi
echo "ok - no suspected leak mentions KVM ($n in all)"
