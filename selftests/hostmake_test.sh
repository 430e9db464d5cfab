#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
#
# The README's "On a real host" path, from a kvm-split checkout, on a real
# Debian 13 host: the host image booted by "make -C selftests
# run-hostmake" (scripts/hostmake-run.sh, VM_ROOT=debian VM_MODULES=0),
# each step a test of selftests/hostmake.list, each starting where the one
# before it left the VM:
#
#   hostmake_test.sh prepare    the package lists and .debs of the native
#                               run go where apt keeps them; modprobe
#                               loads Debian's KVM, as on a host
#   hostmake_test.sh install    make install: the whole make chain, which
#                               finds the native build up to date (no
#                               compile), copies into updates/kvm-split;
#                               modprobe now resolves to it; the loaded
#                               KVM is still Debian's
#   hostmake_test.sh refuse     with a VM (Debian's QEMU, -accel kvm)
#                               running, make load and make unload refuse
#                               and change nothing (rmmod alone would fail
#                               with EBUSY)
#   hostmake_test.sh load       make load: our build's modules are loaded
#   hostmake_test.sh run-host <test> ...
#                               make -C selftests run-host TESTS="<test> ..."
#                               on them
#   hostmake_test.sh unload     refused with a VM running; then make
#                               unload loads Debian's KVM, with its
#                               modprobe.d options, although modprobe
#                               would load ours from updates/
#   hostmake_test.sh uninstall  make uninstall: updates/kvm-split gone,
#                               modprobe loads Debian's KVM again
#
# Modules are told apart by their GNU build IDs (the loaded one in
# /sys/module/<name>/notes).  Exit 0 pass, 1 fail: a step that cannot run
# is a failure.
set -u

X=/ks/extra
SRC=$X/kvm-split
rel=$(uname -r)
U=/lib/modules/$rel/updates/kvm-split
OURS=$SRC/build/$rel/kvm/arch/x86/kvm
export DEBIAN_FRONTEND=noninteractive

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

vendor() { if grep -qw svm /proc/cpuinfo; then echo kvm_amd; else echo kvm_intel; fi; }
V=$(vendor)
VF=$(echo "$V" | tr _ -)

# buildid <file>: the GNU build ID of a module file (xz or not).
buildid() {
	xz -dcf "$1" >/tmp/bid.ko && objcopy -O binary \
		--only-section=.note.gnu.build-id /tmp/bid.ko /tmp/bid.bin &&
		od -An -tx1 /tmp/bid.bin | tr -d ' \n' | tail -c 40
}
# loadedid <module>: the build ID of the loaded module.
loadedid() {
	od -An -tx1 "/sys/module/$1/notes/.note.gnu.build-id" 2>/dev/null |
		tr -d ' \n' | tail -c 40
}
# distro <file name>: Debian's own module file.
distro() {
	find "/lib/modules/$rel/kernel/arch/x86/kvm" -name "$1.ko*" | head -n 1
}

# whose <module> <file name>: "ours", "debian" or "other" for the loaded
# module, from its build ID; prints where it comes from.
whose() {
	id=$(loadedid "$1")
	[ -n "$id" ] || { echo "$1: not loaded"; return 1; }
	d=$(distro "$2")
	if [ "$id" = "$(buildid "$OURS/$2.ko")" ]; then
		w=ours
	elif [ -n "$d" ] && [ "$id" = "$(buildid "$d")" ]; then
		w=debian
	else
		w=other
	fi
	echo "$1: loaded build ID $id ($w), taint '$(cat "/sys/module/$1/taint")', modinfo -n: $(modinfo -n "$1" 2>&1)"
	echo "$w" >/tmp/whose
}

# loaded_is <ours|debian>: kvm and the vendor module are that build.
loaded_is() {
	[ -c /dev/kvm ] || fail "no /dev/kvm"
	for m in kvm:kvm "$V:$VF"; do
		whose "${m%%:*}" "${m#*:}" || fail "${m%%:*} is not loaded"
		[ "$(cat /tmp/whose)" = "$1" ] || fail "${m%%:*} is not $1's"
	done
	t=$(cat /sys/module/kvm/taint)
	if [ "$1" = ours ]; then
		case "$t" in *O*) ;; *) fail "our kvm is not tainted O ('$t')" ;; esac
		[ -f /sys/module/kvm/parameters/clear_dirty_log_chunk ] ||
			fail "kvm has no clear_dirty_log_chunk"
	else
		case "$t" in *O*) fail "Debian's kvm is tainted O ('$t')" ;; esac
		[ ! -e /sys/module/kvm/parameters/clear_dirty_log_chunk ] ||
			fail "Debian's kvm has clear_dirty_log_chunk"
	fi
}

# modprobe_is <updates/kvm-split|kernel/arch/x86/kvm>: where modprobe
# takes kvm and the vendor module from.
modprobe_is() {
	for m in kvm "$V"; do
		p=$(modinfo -n "$m") || fail "modinfo -n $m"
		echo "modinfo -n $m: $p"
		case "$p" in
		/lib/modules/"$rel"/"$1"/*|/usr/lib/modules/"$rel"/"$1"/*) ;;
		*) fail "modprobe would load $m from $p, not $1" ;;
		esac
	done
}

# start_vm: a VM, held by Debian's QEMU (-accel kvm, paused: -S).
start_vm() {
	qemu-system-x86_64 -accel kvm -machine q35 -cpu host -m 64 -S \
		-display none -monitor none -serial none -nodefaults \
		>/tmp/qemu.log 2>&1 &
	qpid=$!
	i=0
	while ! ls -d /sys/kernel/debug/kvm/"$qpid"-* >/dev/null 2>&1; do
		i=$((i + 1))
		kill -0 $qpid 2>/dev/null && [ $i -lt 120 ] || {
			cat /tmp/qemu.log
			fail "QEMU -accel kvm did not create a VM"
		}
		sleep 1
	done
	echo "QEMU $qpid holds VM $(ls -d /sys/kernel/debug/kvm/"$qpid"-*)" \
		"($V refcnt $(cat /sys/module/"$V"/refcnt))"
}
stop_vm() {
	kill "$qpid" && wait "$qpid" 2>/dev/null
	i=0
	while ls -d /sys/kernel/debug/kvm/[0-9]*-* >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 60 ] || fail "the VM is still there after QEMU exited"
		sleep 1
	done
}

# refused <target>: make <target> fails while the VM exists and leaves
# KVM as it was.
refused() {
	before=$(loadedid kvm)
	make -C "$SRC" "$1" >/tmp/make.log 2>&1
	r=$?
	sed 's/^/  | /' /tmp/make.log
	[ $r != 0 ] || fail "make $1 succeeded with a VM running"
	grep -q -e 'is in use' -e 'a VM exists' /tmp/make.log ||
		fail "make $1 failed, but not for the VM"
	[ "$(loadedid kvm)" = "$before" ] || fail "a refused make $1 changed kvm"
	ok "make $1 refused (exit $r) with a VM running; kvm unchanged"
}

cd "$SRC" || fail "no checkout in $SRC"
case "${1:-}" in
prepare)
	[ -d "$X/apt/lists" ] && [ -d "$X/apt/archives" ] || fail "no apt lists or .debs in $X/apt"
	cp -a "$X/apt/lists/." /var/lib/apt/lists/ &&
		cp "$X/apt/archives/"*.deb /var/cache/apt/archives/ ||
		fail "cannot copy the package lists and .debs"
	echo "$(ls /var/cache/apt/archives/*.deb | wc -l) .debs in /var/cache/apt/archives"
	[ ! -d /sys/module/kvm ] || fail "KVM was loaded at boot (VM_MODULES=0 boots without it)"
	modprobe_is kernel/arch/x86/kvm
	modprobe "$V" || fail "modprobe $V"
	loaded_is debian
	ok "Debian's KVM loaded with modprobe $V"
	;;
install)
	t=$(date +%s)
	make install >/tmp/make.log 2>&1
	r=$?
	cat /tmp/make.log
	echo "make install: exit $r, $(($(date +%s) - t))s"
	[ $r = 0 ] || fail "make install"
	n=$(grep -c -e ' CC \[M\] ' -e ' LD \[M\] ' /tmp/make.log)
	[ "$n" = 0 ] || fail "make install compiled or linked $n objects: the native build was not up to date here"
	ok "make install compiled nothing (the native build is up to date)"
	for m in kvm kvm-amd kvm-intel; do
		cmp "$OURS/$m.ko" "$U/$m.ko" || fail "$U/$m.ko is not $OURS/$m.ko"
	done
	ls -l "$U"
	modprobe_is updates/kvm-split
	modprobe --show-depends "$V"
	loaded_is debian
	ok "make install: modprobe ranks updates/kvm-split first; Debian's KVM still loaded"
	;;
refuse)
	loaded_is debian
	start_vm
	refused load
	refused unload
	rmmod "$V" 2>/tmp/rmmod.err && fail "rmmod $V succeeded with a VM running"
	echo "rmmod $V: $(cat /tmp/rmmod.err)"
	grep -q 'in use' /tmp/rmmod.err || fail "rmmod $V failed, but not with EBUSY"
	loaded_is debian
	stop_vm
	ok "make load and make unload refuse while a VM exists"
	;;
load)
	loaded_is debian
	make load 2>&1 || fail "make load"
	loaded_is ours
	ok "make load replaced Debian's KVM with ours ($OURS)"
	;;
run-host)
	shift
	TESTS=$*
	[ -n "$TESTS" ] || fail "usage: $0 run-host <test> ..."
	loaded_is ours
	def=$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)
	t=$(date +%s)
	make -C selftests run-host TESTS="$TESTS" >/tmp/run.log 2>&1
	r=$?
	cat /tmp/run.log
	echo "make -C selftests run-host: exit $r, $(($(date +%s) - t))s"
	[ $r = 0 ] || fail "run-host failed"
	want="$(echo $TESTS | wc -w) passed, 0 failed, 0 skipped"
	grep -qx "$want" /tmp/run.log || fail "run-host did not say '$want'"
	[ "$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)" = "$def" ] ||
		fail "run-host left kvm.clear_dirty_log_chunk changed"
	loaded_is ours
	ok "run-host: $want"
	;;
unload)
	loaded_is ours
	start_vm
	refused unload
	stop_vm
	# unload loads Debian's files with their modprobe.d options (the
	# default is nested=1).
	c=/etc/modprobe.d/hostmake-test.conf
	echo "options $V nested=0" >$c
	make unload 2>&1 || fail "make unload"
	rm -f $c
	loaded_is debian
	n=$(cat /sys/module/"$V"/parameters/nested)
	echo "$V.nested=$n with 'options $V nested=0' in $c"
	case "$n" in 0|N) ;; *) fail "unload did not apply $c" ;; esac
	modprobe_is updates/kvm-split
	ok "make unload loaded Debian's KVM (modprobe still resolves to updates/kvm-split)"
	;;
uninstall)
	make uninstall 2>&1 || fail "make uninstall"
	[ ! -e "$U" ] || fail "$U is still there"
	modprobe_is kernel/arch/x86/kvm
	loaded_is debian
	modprobe -r "$V" kvm || fail "modprobe -r $V kvm"
	modprobe "$V" || fail "modprobe $V"
	loaded_is debian
	ok "make uninstall: modprobe loads Debian's KVM again"
	;;
*)
	echo "usage: $0 prepare|install|refuse|load|run-host <test> ...|unload|uninstall" >&2
	exit 2 ;;
esac
exit 0
