#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# clear_dirty_log_race_stock_test: the control of clear_dirty_log_race_test
# on the distro's own KVM.  Swaps ours for the distro's modules
# (host-modules.sh unload), runs the race test with upstream's clear (-c 0:
# the distro has no chunk), then loads ours back with the VM's parameters.
# The delay module probes make_spte(), which the distro's kvm.ko has too.
set -u

if [ ! -f /tests/vm.conf ]; then
	echo "SKIP: runs only in the test VM (it swaps the loaded KVM)"
	exit 4
fi
. /tests/vm.conf
HM=/tests/host-modules.sh

$HM unload || { echo "not ok - cannot load the distro KVM"; exit 1; }
if [ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ]; then
	echo "not ok - kvm-split's kvm.ko is still loaded"
	exit 1
fi
/tests/kvm_split/clear_dirty_log_race_test -c 0 "$@"
rc=$?
KVM_PARAMS=$KVM_PARAMS KVM_AMD_PARAMS=$KVM_AMD_PARAMS $HM load /modules || {
	echo "not ok - cannot load kvm-split's KVM back"
	exit 1
}
exit $rc
