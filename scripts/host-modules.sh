#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install, load or unload kvm-split's KVM modules on a real host that runs
# the target kernel (make install / load / unload).  Needs root.
#
#   host-modules.sh install <moddir>   copy to /lib/modules/<rel>/updates/kvm-split
#   host-modules.sh load <moddir>      replace the loaded KVM modules with ours
#   host-modules.sh unload             remove ours, load the distro's KVM
#   host-modules.sh uninstall <rel>    remove /lib/modules/<rel>/updates/kvm-split
#
# load and unload refuse while a VM exists.  KVM_PARAMS, KVM_AMD_PARAMS,
# KVM_INTEL_PARAMS are passed to insmod (modprobe.d options do not apply).
# unload loads the distro's own files from /lib/modules/<rel>/kernel/,
# with their modprobe.d options: after install, modprobe (and the next
# boot) would take ours from updates/ until uninstall.
#
# POSIX sh, so that the test VM's busybox runs the very same script
# (selftests/host_modules_test.sh).
set -eu

info() { printf 'kvm-split: %s\n' "$*" >&2; }
die() { printf 'kvm-split: error: %s\n' "$*" >&2; exit 1; }

MODS="kvm kvm-amd kvm-intel"

# modrelease <moddir>: the kernel release all three modules were built for.
modrelease() {
	rel=''
	for m in $MODS; do
		[ -f "$1/$m.ko" ] || die "$1/$m.ko not found (run make)"
		r=$(modinfo -F vermagic "$1/$m.ko" | awk '{ print $1 }') || r=''
		[ -n "$r" ] || die "cannot read the vermagic of $1/$m.ko"
		[ -z "$rel" ] || [ "$r" = "$rel" ] || die "$m.ko is for $r, kvm.ko for $rel"
		rel=$r
	done
	echo "$rel"
}

loaded() { [ -f "/sys/module/$1/initstate" ]; }

# moddeps <ko>: modprobe the distro modules <ko> depends on (irqbypass for
# kvm; ccp for kvm-amd where the kernel has SEV, not in Debian's cloud
# flavour).
moddeps() {
	for d in $(modinfo -F depends "$1" | tr , ' '); do
		case "$d" in kvm) continue ;; esac
		modprobe "$d" || die "modprobe $d failed"
	done
}

vendor() {
	if grep -qw svm /proc/cpuinfo; then
		echo kvm_amd
	elif grep -qw vmx /proc/cpuinfo; then
		echo kvm_intel
	else
		die "this CPU has neither svm nor vmx"
	fi
}

# A VM, or any open /dev/kvm, holds a reference on kvm_amd/kvm_intel (KVM
# sets its file operations' owner to the vendor module), which in turn
# holds one on kvm; references from dependent modules (holders/) are not
# VMs.
check_no_vms() {
	for m in kvm kvm_amd kvm_intel; do
		[ -r "/sys/module/$m/refcnt" ] || continue
		n=$(cat "/sys/module/$m/refcnt")
		h=$(find "/sys/module/$m/holders" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
		[ "$n" -le "$h" ] ||
			die "$m is in use (refcnt $n): stop all VMs and /dev/kvm users first"
	done
	for d in /sys/kernel/debug/kvm/[0-9]*-[0-9]*; do
		[ ! -d "$d" ] || die "a VM exists ($d): stop all VMs first"
	done
}

# Modules other than the vendor modules that use kvm.ko (kvmgt, ...) would
# make "rmmod kvm" fail after the vendor module is gone: refuse first.
check_kvm_users() {
	for h in /sys/module/kvm/holders/*; do
		[ -e "$h" ] || continue
		case "${h##*/}" in
		kvm_amd|kvm_intel) ;;
		*) die "${h##*/} uses kvm: unload it first (modprobe -r ${h##*/})" ;;
		esac
	done
}

# distro_ko <name>: the distro's own module file (kvm, kvm-amd, ...), under
# kernel/, whatever install put in updates/.
distro_ko() {
	f=$(find "/lib/modules/$(uname -r)/kernel" -name "$1.ko" -o -name "$1.ko.*" 2>/dev/null | head -n 1)
	[ -n "$f" ] || die "the distro's $1.ko is not in /lib/modules/$(uname -r)/kernel"
	echo "$f"
}

# distro_insmod <name>: insmod the distro's module with the options
# modprobe.d gives it (kmod's modprobe -c; busybox has none).
distro_insmod() {
	f=$(distro_ko "$1") || exit 1
	moddeps "$f"
	o=$(modprobe -c 2>/dev/null | awk -v m="$(echo "$1" | tr - _)" \
		'$1 == "options" && $2 == m { $1 = $2 = ""; print }')
	# shellcheck disable=SC2086 # option words
	insmod "$f" $o || die "insmod $f failed (see dmesg)"
}

# Remove whatever KVM is loaded, vendor module first.
remove_kvm() {
	for m in kvm_amd kvm_intel kvm; do
		if loaded $m; then
			rmmod $m || die "cannot unload $m"
		fi
	done
}

[ $# -ge 1 ] || die "usage: $0 install|load <moddir> | unload | uninstall <release>"
[ "$(id -u)" = 0 ] || die "$1 needs root"
case "$1" in
install)
	[ $# = 2 ] || die "usage: $0 install <moddir>"
	rel=$(modrelease "$2")
	[ -d "/lib/modules/$rel" ] ||
		die "kernel $rel is not installed on this host (no /lib/modules/$rel)"
	dest=/lib/modules/$rel/updates/kvm-split
	mkdir -p "$dest" || die "cannot create $dest"
	for m in $MODS; do
		cp "$2/$m.ko" "$dest/" && chmod 644 "$dest/$m.ko" ||
			die "cannot copy $m.ko to $dest"
	done
	depmod -a "$rel" || die "depmod -a $rel failed"
	info "installed $MODS into $dest"
	;;
load)
	[ $# = 2 ] || die "usage: $0 load <moddir>"
	rel=$(modrelease "$2")
	[ "$(uname -r)" = "$rel" ] ||
		die "modules are for $rel but this host runs $(uname -r)"
	if [ -d /sys/module/kvm ] && ! loaded kvm; then
		die "KVM is built into the running kernel"
	fi
	v=$(vendor)
	check_no_vms
	check_kvm_users
	remove_kvm
	moddeps "$2/kvm.ko"
	# shellcheck disable=SC2086 # parameters are word lists
	insmod "$2/kvm.ko" ${KVM_PARAMS:-} || die "insmod kvm.ko failed (see dmesg)"
	if [ "$v" = kvm_amd ]; then
		moddeps "$2/kvm-amd.ko"
		# shellcheck disable=SC2086
		insmod "$2/kvm-amd.ko" ${KVM_AMD_PARAMS:-} || die "insmod kvm-amd.ko failed (see dmesg)"
	else
		# shellcheck disable=SC2086
		insmod "$2/kvm-intel.ko" ${KVM_INTEL_PARAMS:-} || die "insmod kvm-intel.ko failed (see dmesg)"
	fi
	taint=$(cat /sys/module/kvm/taint)
	info "loaded kvm.ko and $(echo "$v" | tr _ -).ko from $2 (kvm taint: ${taint:-none})"
	;;
unload)
	[ $# = 1 ] || die "usage: $0 unload"
	v=$(vendor)
	check_no_vms
	check_kvm_users
	# The distro's files, found before anything is removed.  Not
	# "modprobe $v": depmod ranks updates/ first, so after install that
	# would load ours again.
	kvmko=$(distro_ko kvm) && vko=$(distro_ko "$(echo "$v" | tr _ -)") || exit 1
	remove_kvm
	distro_insmod kvm
	distro_insmod "$(echo "$v" | tr _ -)"
	info "loaded the distro's $kvmko and $vko (kvm taint: $(cat /sys/module/kvm/taint 2>/dev/null || echo '?'))"
	rel=$(uname -r)
	[ ! -d "/lib/modules/$rel/updates/kvm-split" ] ||
		info "modprobe and the next boot still load ours from /lib/modules/$rel/updates/kvm-split: make uninstall removes them"
	;;
uninstall)
	[ $# = 2 ] || die "usage: $0 uninstall <release>"
	dest=/lib/modules/$2/updates/kvm-split
	[ -d "$dest" ] || die "nothing to uninstall: no $dest"
	rm -r "$dest" || die "cannot remove $dest"
	depmod -a "$2" || die "depmod -a $2 failed"
	info "removed $dest: modprobe loads the distro's KVM (loaded modules are unchanged)"
	;;
*)
	die "usage: $0 install|load <moddir> | unload | uninstall <release>"
	;;
esac
