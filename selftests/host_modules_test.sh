#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# host_modules_test: what "make install", "make load" and "make unload" do
# on a host, run for real in the test VM (busybox sh and modutils).  The VM
# has the distro's KVM modules in /lib/modules/<release>/kernel, ours in
# /modules, and scripts/host-modules.sh in /tests; ours are loaded when the
# test starts, and are loaded again, with the VM's parameters, when it ends.
#
#  - unload and load refuse while /dev/kvm is open, and change nothing;
#  - unload replaces ours with the distro's KVM, load puts ours back;
#  - load passes KVM_PARAMS to kvm.ko;
#  - install copies ours into updates/kvm-split and runs depmod;
#  - unload loads the distro's KVM also after install; uninstall removes
#    updates/kvm-split and runs depmod.
set -u

# On a real host (make -C selftests run-host) this would swap the host's
# own KVM: run only in the test VM, which vm-run.sh marks with vm.conf.
if [ ! -f /tests/vm.conf ]; then
	echo "SKIP: host_modules runs only in the test VM (it swaps the loaded KVM)"
	exit 4
fi

# The module parameters the VM was booted with (KVM_PARAMS=... make ...).
. /tests/vm.conf
HM=/tests/host-modules.sh
OURS=/modules
rel=$(uname -r)
nr=0
vendor=kvm_amd
grep -qw svm /proc/cpuinfo || vendor=kvm_intel

fail() {
	echo "not ok - $*"
	exit 1
}

pass() {
	nr=$((nr + 1))
	echo "ok $nr - $*"
}

# Our kvm.ko is the one with the clear_dirty_log_chunk parameter.
ours() { [ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ]; }

kvm_ready() { [ -c /dev/kvm ] && [ -f /sys/module/$vendor/initstate ]; }

ours && kvm_ready || fail "kvm-split's KVM is not loaded at the start"
depmod || fail "depmod failed"

# An open /dev/kvm holds a reference on the vendor module, as every VM
# does.
exec 3</dev/kvm
$HM unload && fail "unload succeeded with /dev/kvm open"
ours && kvm_ready || fail "a refused unload changed the loaded KVM"
$HM load $OURS && fail "load succeeded with /dev/kvm open"
ours && kvm_ready || fail "a refused load changed the loaded KVM"
exec 3<&-
pass "unload and load refuse while /dev/kvm is open"

$HM unload || fail "unload failed"
ours && fail "kvm-split's kvm.ko is still loaded after unload"
kvm_ready || fail "no /dev/kvm after unload"
case "$(cat /sys/module/kvm/taint)" in
*O*) fail "the distro kvm.ko is tainted out-of-tree" ;;
esac
pass "unload loads the distro KVM"

KVM_PARAMS="clear_dirty_log_chunk=128" KVM_AMD_PARAMS='' $HM load $OURS ||
	fail "load failed"
ours && kvm_ready || fail "kvm-split's KVM is not loaded after load"
case "$(cat /sys/module/kvm/taint)" in
*O*) ;;
*) fail "our kvm.ko is not tainted out-of-tree" ;;
esac
[ "$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)" = 128 ] ||
	fail "KVM_PARAMS did not reach kvm.ko"
pass "load replaces the distro KVM with ours, with KVM_PARAMS"

# kmod's depmod ranks updates/ above kernel/; busybox's keeps whichever
# module of a name it finds first, so only check that install ran depmod:
# it writes modules.dep anew.  (Emptied, not removed: busybox's modinfo
# needs the file.)
: >/lib/modules/"$rel"/modules.dep
$HM install $OURS || fail "install failed"
grep -q "kvm.ko:" /lib/modules/"$rel"/modules.dep ||
	fail "install did not run depmod"
for m in kvm kvm-amd kvm-intel; do
	cmp -s $OURS/$m.ko /lib/modules/"$rel"/updates/kvm-split/$m.ko ||
		fail "$m.ko was not installed"
done
pass "install copies our modules into updates/kvm-split and runs depmod"

# unload loads the distro's files, not what modprobe would take (ours,
# from updates/, after install).
$HM unload || fail "unload after install failed"
ours && fail "unload after install left kvm-split's kvm.ko loaded"
kvm_ready || fail "no /dev/kvm after unload"
pass "unload loads the distro KVM also after install"

$HM uninstall "$rel" || fail "uninstall failed"
[ ! -e /lib/modules/"$rel"/updates/kvm-split ] || fail "uninstall left updates/kvm-split"
grep -q kvm-split /lib/modules/"$rel"/modules.dep && fail "uninstall did not run depmod"
pass "uninstall removes updates/kvm-split and runs depmod"

# Leave our modules loaded for the next tests as the VM loaded them.
KVM_PARAMS=$KVM_PARAMS KVM_AMD_PARAMS=$KVM_AMD_PARAMS $HM load $OURS ||
	fail "load failed"
want=0
for p in $KVM_PARAMS; do
	case "$p" in clear_dirty_log_chunk=*) want=${p#*=} ;; esac
done
[ "$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)" = "$want" ] ||
	fail "clear_dirty_log_chunk is not back to the VM's $want"
pass "load again with the VM's parameters"
