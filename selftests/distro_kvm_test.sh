#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# distro_kvm_test.sh <test> [args]: run a test on the distro's own KVM, the
# control of a kvm-split test.  Swaps ours for the distro's modules
# (host-modules.sh unload), runs the test, then loads ours back with the
# VM's parameters.  The test's exit status is the result.
set -u

if [ ! -f /tests/vm.conf ]; then
	echo "SKIP: runs only in the test VM (it swaps the loaded KVM)"
	exit 4
fi
[ $# -ge 1 ] || { echo "usage: $0 <test> [args]"; exit 1; }
. /tests/vm.conf
HM=/tests/host-modules.sh

# modprobe needs the VM's modules.dep (host_modules_test may not have run).
depmod || { echo "not ok - depmod failed"; exit 1; }
$HM unload || { echo "not ok - cannot load the distro KVM"; exit 1; }
if [ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ]; then
	echo "not ok - kvm-split's kvm.ko is still loaded"
	exit 1
fi
t=$1
shift
"/tests/$t" "$@"
rc=$?
KVM_PARAMS=$KVM_PARAMS KVM_AMD_PARAMS=$KVM_AMD_PARAMS $HM load /modules || {
	echo "not ok - cannot load kvm-split's KVM back"
	exit 1
}
exit $rc
