#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the target distro kernel in QEMU with our KVM modules and run tests.
#
#   vm-run.sh <tests.list> [test ...]
#
# <tests.list> lines are "<name> <timeout-seconds> <command ...>"; with test
# names given, only those run.  Prints TAP on stdout, one line per test, and
# ends with "N passed, N failed, N skipped".  Exit status 1 if anything
# failed, including a test that could not run (guest panic, WARN with
# panic_on_warn, per-test timeout, module load failure, missing binary).
#
# Environment: VM_MEM (MiB, default 8192), VM_SMP (2), VM_HUGEPAGES_2M
# (1400), VM_HUGEPAGES_1G (2), KVM_PARAMS / KVM_AMD_PARAMS (module
# parameters), V=1 (print every test's output), LOGDIR, TIMEOUT_MULT
# (per-test timeouts multiplied, for slow kernels), KS_TIER (given to the
# tests: "debug" makes tests that need the debug kernel fail, not skip),
# KVM_MODDIR (boot with other KVM modules).
#
# VM_ROOT=debian boots the Debian 13 host image (scripts/host-image.sh:
# kmod, dkms, Debian's initramfs, QEMU) instead of the busybox initramfs,
# on a qcow2 overlay of its own; what the busybox initramfs would hold
# (tests, modules, scripts/guest-init.sh) goes on a second disk, the
# payload.  There VM_MODULES=0 boots without loading KVM (the tests load
# it: DKMS and modprobe), and VM_PAYLOAD=<dir> adds <dir> to the payload
# as /ks/extra (packages, prebuilt state).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel

BIN=${SELFTESTS_BIN:-$BUILD/$KVER/selftests}
LIST=$1
shift
WANT="$*"

# KVM_MODDIR: another build of kvm.ko/kvm-amd.ko/kvm-intel.ko to boot with
# (the debug tier runs the stock KVM of its tree as the control).
MODDIR=${KVM_MODDIR:-$BUILD/$KVER/kvm/arch/x86/kvm}
[ -f "$VMLINUZ" ] ||
	die "no guest kernel $VMLINUZ (a KSRC= tree must be built: make bzImage modules)"
LOGDIR=${LOGDIR:-$BUILD/test-logs}
mkdir -p "$BUILD/$KVER" "$LOGDIR"
W=$(mktemp -d "$BUILD/$KVER/vm.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/root"
rm -f "$LOGDIR"/*.log

# Tests to run, in list order.
: >"$W/tests.run"
names=()
while read -r name tmo cmd; do
	case "$name" in ''|'#'*) continue ;; esac
	if [ -n "$WANT" ] && ! printf ' %s ' $WANT | grep -q " $name "; then
		continue
	fi
	echo "$name $((tmo * ${TIMEOUT_MULT:-1})) $cmd" >>"$W/tests.run"
	names+=("$name")
done <"$LIST"
for n in $WANT; do
	grep -q "^$n " "$W/tests.run" || die "unknown test '$n' (see ${LIST#"$top"/})"
done
[ ${#names[@]} -gt 0 ] || die "no tests selected"

# initramfs: busybox, modules, tests.
R=$W/root
mkdir -p "$R"/{bin,modules,tests,proc,sys,dev,tmp}
cp /bin/busybox "$R/bin/busybox" || die "busybox-static missing: run scripts/setup.sh"
file -b /bin/busybox 2>/dev/null | grep -q 'statically' ||
	ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || die "/bin/busybox is not static (install busybox-static)"
cp "$top/scripts/guest-init.sh" "$R/init"
chmod +x "$R/init"
# The distro's own KVM modules and their dependencies, in a /lib/modules
# tree, so that host_modules_test can swap them with ours as "make load"
# and "make unload" do on a host.  The dependencies are what our modules
# name (irqbypass and, on Debian, ccp; a KSRC= tree may have ccp built in
# or not at all).
rel=$(modinfo -F vermagic "$MODDIR/kvm.ko" 2>/dev/null | awk '{ print $1 }')
[ -n "$rel" ] || die "$MODDIR/kvm.ko not built: run make"
for m in kvm kvm-amd kvm-intel; do
	[ -f "$MODDIR/$m.ko" ] || die "$m.ko not built: run make"
	cp "$MODDIR/$m.ko" "$R/modules/"
done
# distro_module <name>: copy the distro's module into the guest's
# /lib/modules tree (uncompressed) and print its path there.
distro_module() {
	local f d
	# A Debian image keeps them under kernel/, a built KSRC= tree next
	# to their sources (its kernel/ is the source directory).
	local base=$KMODDIR/kernel
	[ -d "$base/arch" ] || base=$KMODDIR
	f=$(find "$base" -name "$1.ko" -o -name "$1.ko.xz" | sed -n 1p)
	[ -n "$f" ] || die "distro module $1 not found under $KMODDIR"
	d=$R/lib/modules/$rel/kernel/$(dirname "${f#"$base"/}")
	mkdir -p "$d"
	case "$f" in
	*.xz) xz -dc "$f" >"$d/$1.ko" ;;
	*) cp "$f" "$d/" ;;
	esac
	echo "$d/$1.ko"
}
# What our modules depend on, from the distro (irqbypass; ccp for kvm-amd
# where the kernel has SEV: not the cloud flavour), loaded before them.
deps_kvm=$(modinfo -F depends "$MODDIR/kvm.ko" | tr , ' ')
deps_amd=$(modinfo -F depends "$MODDIR/kvm-amd.ko" | tr , ' ')
deps_intel=$(modinfo -F depends "$MODDIR/kvm-intel.ko" | tr , ' ')
declare -A got=()
for m in $deps_kvm $deps_amd $deps_intel kvm kvm-amd kvm-intel; do
	[ -z "${got[$m]:-}" ] || continue
	got[$m]=1
	p=$(distro_module "$m") || exit 1
	case " $deps_kvm $deps_amd $deps_intel " in
	*" $m "*) [ "$m" = kvm ] || cp "$p" "$R/modules/" ;;
	esac
done
cp "$top/scripts/host-modules.sh" "$R/tests/"
# Each command's first word must be a built test binary: a missing one is
# a failure, never a skip, unless this kernel series' own selftests do not
# have that upstream test at all and selftests/absent-<series>.list says
# so, with the reason (a SKIP naming it).
missing=0
declare -A absent=()
absent_why() {
	awk -v b="$1" '$1 == b { $1 = ""; sub(/^ /, ""); print; f = 1 }
		END { exit !f }' "$top/selftests/absent-$KSERIES.list" 2>/dev/null
}
while read -r name tmo cmd; do
	b=$(printf '%s\n' $cmd | grep -v -m1 '^[a-z_]*\.[a-z_]*=')
	if [ -x "$BIN/$b" ]; then
		mkdir -p "$R/tests/$(dirname "$b")"
		cp "$BIN/$b" "$R/tests/$b"
		# A wrapper's arguments may name further test binaries.
		for w in $cmd; do
			case "$w" in */*) ;; *) continue ;; esac
			[ -f "$BIN/$w" ] || continue
			mkdir -p "$R/tests/$(dirname "$w")"
			cp "$BIN/$w" "$R/tests/$w"
			# A Python script's modules are beside it (qmp.py).
			case "$w" in
			*.py) cp "$BIN/$(dirname "$w")"/*.py "$R/tests/$(dirname "$w")/" ;;
			esac
		done
	elif why=$(absent_why "$b"); then
		absent[$name]=$why
	else
		echo "kvm-split: $name: test binary $b not built" >&2
		missing=1
	fi
done <"$W/tests.run"
if [ ${#absent[@]} -gt 0 ]; then
	printf '%s\n' "${!absent[@]}" |
		awk 'NR == FNR { a[$1]; next } !($1 in a)' - "$W/tests.run" >"$W/tests.keep"
	mv "$W/tests.keep" "$W/tests.run"
fi
# Test-only kernel modules (selftests/kmod), loaded by the tests that
# need them.
if [ -d "$BIN/kvm_split" ]; then
	mkdir -p "$R/tests/kvm_split"
	cp "$BIN"/kvm_split/*.ko "$R/tests/kvm_split/" 2>/dev/null || true
fi
cp "$W/tests.run" "$R/tests/tests.run"

ACCEL="-accel tcg,thread=single -cpu EPYC,+svm"
# shellcheck disable=SC2086 # word lists
modlist() { for m in "$@"; do [ "$m" = kvm ] || printf '%s.ko ' "$m"; done; }
MODULES="$(modlist $deps_kvm)kvm.ko $(modlist $deps_amd)kvm-amd.ko"
if [ -w /dev/kvm ] && grep -qw svm /proc/cpuinfo; then
	ACCEL="-accel kvm -cpu host"
elif [ -w /dev/kvm ] && grep -qw vmx /proc/cpuinfo; then
	ACCEL="-accel kvm -cpu host"
	MODULES="$(modlist $deps_kvm)kvm.ko $(modlist $deps_intel)kvm-intel.ko"
fi
[ "${VM_MODULES:-1}" = 1 ] || MODULES=
cat >"$R/tests/vm.conf" <<EOF
MODULES="$MODULES"
KVM_PARAMS="${KVM_PARAMS:-}"
KVM_AMD_PARAMS="${KVM_AMD_PARAMS:-}"
HUGEPAGES_2M=${VM_HUGEPAGES_2M:-1400}
KS_TIER=${KS_TIER:-default}
EOF
BOOT=(-kernel "$VMLINUZ" -initrd "$W/initramfs.cpio")
ROOTARGS=
if [ "${VM_ROOT:-busybox}" = debian ]; then
	IMG=$("$top/scripts/host-image.sh" build) || die "no Debian 13 host image"
	if [ -n "${VM_PAYLOAD:-}" ]; then
		mkdir -p "$R/extra"
		cp -a "$VM_PAYLOAD/." "$R/extra/" || die "cannot copy $VM_PAYLOAD"
	fi
	rm -f "$R/bin/busybox"
	qemu-img create -q -f qcow2 -b "$IMG/root.ext4" -F raw "$W/root.qcow2" ||
		die "cannot make the overlay of $IMG/root.ext4"
	# (mkfs.ext4 says "Creating regular file" on stdout, the TAP stream.)
	mkfs.ext4 -q -L ks-payload -d "$R" "$W/payload.ext4" \
		"$(($(du -sm "$R" | cut -f1) * 5 / 4 + 64))M" >"$W/mkfs.log" 2>&1 ||
		{ cat "$W/mkfs.log" >&2; die "mkfs.ext4 of the payload failed"; }
	BOOT=(-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img"
	      -drive "file=$W/root.qcow2,if=virtio,format=qcow2,cache=unsafe"
	      -drive "file=$W/payload.ext4,if=virtio,format=raw,cache=unsafe")
	ROOTARGS="root=/dev/vda rw init=/sbin/ks-init "
	VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-900}
elif [ "${VM_ROOT:-busybox}" != busybox ]; then
	die "VM_ROOT=$VM_ROOT: unknown (busybox, the default, or debian)"
else
	(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio" || die "cpio failed"
fi

# The guest's own limit is each test's timeout; this one only catches a
# guest that hangs outright.  Booting, loading the modules and reserving
# huge pages took 277 s and 390 s at load 10 to 11 (6.1), so give that
# part 600 s (VM_BOOT_TIMEOUT): a short TESTS= list no longer loses its
# last test to a slow boot.
total=${VM_BOOT_TIMEOUT:-600}
while read -r name tmo cmd; do total=$((total + tmo + 5)); done <"$W/tests.run"

# no_timer_check: under TCG on a loaded machine the kernel's boot-time
# check that the IO-APIC timer ticks can fail and panic ("IO-APIC + timer
# doesn't work!", seen on 7.3 at load 11); virtual machines skip it.
CMDLINE="${ROOTARGS}no_timer_check console=ttyS0 panic_on_warn=1 panic=-1 oops=panic softlockup_panic=1"
CMDLINE+=" hugepagesz=1G hugepages=${VM_HUGEPAGES_1G:-2} hugepagesz=2M"
CMDLINE+=" mitigations=off nokaslr loglevel=4"
: >"$W/results.log"
: >"$W/console.log"
echo "# booting $KVER (${VM_ROOT:-busybox} root) in QEMU ($ACCEL), ${#names[@]} tests, guest timeout ${total}s" >&2
timeout -s KILL "$total" qemu-system-x86_64 -machine q35 $ACCEL \
	-m "${VM_MEM:-8192}" -smp "${VM_SMP:-2}" \
	"${BOOT[@]}" -append "$CMDLINE" \
	-display none -monitor none -no-reboot -nodefaults \
	-chardev file,id=con,path="$W/console.log" -serial chardev:con \
	-chardev file,id=res,path="$W/results.log" -serial chardev:res \
	2>"$W/qemu.err" &
qpid=$!

# Follow the results channel while QEMU runs.
echo "TAP version 13"
echo "1..${#names[@]}"
pass=0 fail=0 skip=0 n=0 cur='' done=0 fatal=''
t0=$(date +%s)
declare -A seen=()
for name in "${names[@]}"; do
	[ -n "${absent[$name]:-}" ] || continue
	n=$((n + 1)) skip=$((skip + 1)) seen[$name]=1
	echo "ok $n $name # SKIP not in $KSERIES's own selftests: ${absent[$name]}"
done
while IFS= read -r line; do
	line=${line%$'\r'}	# the guest tty turns \n into \r\n
	case "$line" in
	"KS-INFO "*) echo "# ${line#KS-INFO }" ;;
	"KS-RUN "*)
		cur=${line#KS-RUN }
		echo "# [$(($(date +%s) - t0))s] running $cur" >&2
		: >"$LOGDIR/$cur.log" ;;
	"KS-OUT "*)
		rest=${line#KS-OUT }
		printf '%s\n' "${rest#* }" >>"$LOGDIR/${rest%% *}.log"
		[ "${V:-0}" = 1 ] && echo "# ${rest#* }" ;;
	"KS-RESULT "*)
		set -- ${line#KS-RESULT }
		name=$1 rc=$2 secs=$3
		n=$((n + 1)) seen[$name]=1 cur=
		case $rc in
		0) pass=$((pass + 1)); echo "ok $n $name (${secs}s)" ;;
		4)
			why=$(grep -i 'skip' "$LOGDIR/$name.log" | tail -n 1)
			skip=$((skip + 1)); echo "ok $n $name # SKIP ${why:-no reason given} (${secs}s)" ;;
		*)
			fail=$((fail + 1))
			[ "$rc" = 124 ] && rc="timeout after ${secs}s"
			[ "$rc" = 125 ] && rc="kernel report: $(grep -m1 '^kernel report: ' "$LOGDIR/$name.log" | cut -c16-)"
			echo "not ok $n $name (exit $rc, ${secs}s)"
			tail -n 40 "$LOGDIR/$name.log" | sed 's/^/#   /' ;;
		esac ;;
	"KS-DONE"*) done=1 ;;
	"KS-FATAL "*) fatal=${line#KS-FATAL } ;;
	esac
done < <(tail -n +1 -F --pid=$qpid "$W/results.log" 2>/dev/null)
wait $qpid
qrc=$?
cp "$W/console.log" "$LOGDIR/console.log"

if [ "$done" != 1 ]; then
	why="guest died"
	[ -n "$fatal" ] && why="$fatal"
	[ $qrc = 137 ] && why="guest timed out after ${total}s"
	grep -q -E 'Kernel panic|WARNING:|BUG:|Oops' "$W/console.log" && why="$why: kernel panic/WARN/BUG"
	# Tests run in list order: the first one without a result was running
	# (its KS-RUN line may have died with the guest's serial buffer).
	for name in "${names[@]}"; do
		[ -n "${seen[$name]:-}" ] && continue
		n=$((n + 1)) fail=$((fail + 1))
		[ -z "$cur" ] && cur=$name
		if [ "$name" = "$cur" ]; then
			echo "not ok $n $name ($why)"
			echo "#   last console lines:"
			tail -n 40 "$W/console.log" | sed 's/^/#   /'
		else
			echo "not ok $n $name (not run: $why)"
		fi
	done
	tail -n 5 "$W/qemu.err" | sed 's/^/# qemu: /'
fi
[ $missing = 1 ] && { echo "# some test binaries were missing"; fail=$((fail + 1)); }
echo "# total $(($(date +%s) - t0))s; logs in ${LOGDIR#"$top"/}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
