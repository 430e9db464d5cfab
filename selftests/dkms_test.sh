#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
#
# The DKMS package on a real Debian 13 host (the host image booted by
# "make -C selftests run-debian", VM_ROOT=debian VM_MODULES=0): what an
# operator does, step by step, each step a test of selftests/debian.list:
#
#   dkms_test.sh install    apt install ./kvm-split-dkms_*.deb: DKMS builds
#                           (FULL form) or, when the payload has a DKMS
#                           tarball of the same image's native build (CI
#                           form), loads it, and installs into updates/dkms
#   dkms_test.sh modprobe   modprobe kvm_amd loads OUR modules: modinfo -n
#                           shows updates/dkms, the loaded modules' build
#                           IDs are those files', taint has O, kvm-split's
#                           parameters exist
#   dkms_test.sh modprobe.d an option in /etc/modprobe.d/ takes effect
#   dkms_test.sh remove     apt remove: Debian's own KVM comes back
#
# The payload (/ks/extra) holds the .deb, and in the CI form the DKMS
# tarball.  A second kernel's own DKMS build is checked natively, in a
# chroot of the same image (scripts/dkms-run.sh).  Exit 0 pass, 1 fail: a step that
# cannot run is a failure.
set -u

X=/ks/extra
NAME=kvm-split
PKG=kvm-split-dkms
rel=$(uname -r)
export DEBIAN_FRONTEND=noninteractive

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

deb() {
	set -- "$X"/${PKG}_*_all.deb
	[ -f "$1" ] || fail "no $PKG .deb in the payload ($X)"
	echo "$1"
}

# modpath <module>: where modprobe takes it from (modinfo -n).
modpath() { modinfo -n "$1" 2>/dev/null; }

vendor() { if grep -qw svm /proc/cpuinfo; then echo kvm_amd; else echo kvm_intel; fi; }

unload() {
	for m in kvm_amd kvm_intel kvm; do
		[ ! -d /sys/module/$m ] || modprobe -r $m || fail "modprobe -r $m"
	done
}

case "${1:-}" in
install)
	d=$(deb)
	ver=$(dpkg-deb -f "$d" Version)
	if [ -f "$X/$NAME-$ver.dkms.tar.gz" ]; then
		# CI form: the modules this very image built natively
		# (dkms mktarball), loaded by the package's postinst
		# (dkms ldtarball) in place of the compile.
		mkdir -p /usr/share/$PKG
		cp "$X/$NAME-$ver.dkms.tar.gz" /usr/share/$PKG/
		echo "CI form: prebuilt DKMS tarball $NAME-$ver.dkms.tar.gz"
	else
		echo "FULL form: DKMS builds KVM for $rel in this VM"
	fi
	t=$(date +%s)
	apt-get install -y "$d" 2>&1 || fail "apt install $d"
	echo "apt install took $(($(date +%s) - t))s"
	dkms status -m $NAME 2>&1
	dkms status -m $NAME -v "$ver" -k "$rel" | grep -q ': installed' ||
		fail "dkms status does not say installed for $rel"
	for m in kvm kvm-amd kvm-intel; do
		set -- /lib/modules/"$rel"/updates/dkms/$m.ko*
		[ -f "$1" ] || fail "no $m.ko in /lib/modules/$rel/updates/dkms"
		ok "$1"
	done
	;;
modprobe)
	unload
	v=$(vendor)
	for m in kvm $v; do
		p=$(modpath $m)
		echo "modinfo -n $m: $p"
		case "$p" in
		*/updates/dkms/*) ;;
		*) fail "modprobe would load $m from $p, not updates/dkms" ;;
		esac
	done
	modprobe "$v" || fail "modprobe $v"
	[ -c /dev/kvm ] || fail "/dev/kvm missing after modprobe $v"
	for m in kvm $v; do
		# The loaded module is the file in updates/dkms: the same GNU
		# build ID (Debian's kernels set no srcversion).
		f=$(modpath $m)
		xz -dcf "$f" >/tmp/m.ko && objcopy -O binary \
			--only-section=.note.gnu.build-id /tmp/m.ko /tmp/m.bid ||
			fail "cannot read the build ID of $f"
		id=$(od -An -tx1 /tmp/m.bid | tr -d ' \n' | tail -c 40)
		[ -n "$id" ] && cmp -s /tmp/m.bid /sys/module/$m/notes/.note.gnu.build-id ||
			fail "loaded $m is not $f (build ID $id)"
		taint=$(cat /sys/module/$m/taint)
		echo "$m: build ID $id as $f, taint '$taint', signer '$(modinfo -F signer "$f")'"
		case "$taint" in *O*) ;; *) fail "$m is not out-of-tree (taint '$taint')" ;; esac
	done
	for p in clear_dirty_log_chunk clear_dirty_log_shared; do
		[ -f /sys/module/kvm/parameters/$p ] || fail "kvm.$p missing: not kvm-split's kvm.ko"
		echo "kvm.$p=$(cat /sys/module/kvm/parameters/$p)"
	done
	# Debian's own kvm.ko has none of them.
	stock=$(find /lib/modules/"$rel"/kernel/arch/x86/kvm -name 'kvm.ko*' | head -n 1)
	! modinfo -F parm "$stock" | grep -q clear_dirty_log_chunk ||
		fail "$stock has clear_dirty_log_chunk too"
	ok "modprobe $v loaded kvm-split's modules from updates/dkms"
	;;
modprobe.d)
	c=/etc/modprobe.d/kvm-split.conf
	def=$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk) ||
		fail "kvm not loaded (run the modprobe step first)"
	want=$((def == 256 ? 512 : 256))
	echo "options kvm clear_dirty_log_chunk=$want" >$c
	unload
	modprobe "$(vendor)" || fail "modprobe with $c"
	got=$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)
	echo "with $c ($(cat $c)): kvm.clear_dirty_log_chunk=$got (default $def)"
	[ "$got" = "$want" ] || fail "the option in $c did not take effect"
	rm -f $c
	unload
	modprobe "$(vendor)" || fail "modprobe without $c"
	got=$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk)
	[ "$got" = "$def" ] || fail "without $c: $got, not the default $def"
	ok "/etc/modprobe.d option applied, and gone with the file"
	;;
remove)
	unload
	apt-get remove -y $PKG 2>&1 || fail "apt remove $PKG"
	[ -z "$(dkms status -m $NAME)" ] || fail "dkms still lists $NAME: $(dkms status -m $NAME)"
	v=$(vendor)
	for m in kvm $v; do
		p=$(modpath $m)
		echo "modinfo -n $m: $p"
		case "$p" in
		*/kernel/arch/x86/kvm/*) ;;
		*) fail "after apt remove, $m resolves to $p" ;;
		esac
	done
	modprobe "$v" || fail "modprobe $v (Debian's)"
	[ ! -f /sys/module/kvm/parameters/clear_dirty_log_chunk ] ||
		fail "kvm-split's kvm.ko is still loaded"
	echo "kvm taint '$(cat /sys/module/kvm/taint)'"
	case "$(cat /sys/module/kvm/taint)" in *O*) fail "kvm still out-of-tree" ;; esac
	ok "apt remove brought Debian's KVM back"
	;;
*)
	echo "usage: $0 install|modprobe|modprobe.d|remove" >&2
	exit 2 ;;
esac
exit 0
