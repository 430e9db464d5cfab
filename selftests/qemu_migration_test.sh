#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# qemu_migration_test.sh [-M] [-n migrations] [-m MiB] [-r MiB/s]
#     <migrate.py> <payload.elf> <kvm_stat> <mode> ...
#
# Real QEMU live migration on the test VM's Debian 13 host image (VM_ROOT=
# debian, selftests/qemu.list): Debian's unmodified QEMU (-accel kvm) runs
# the verifying payload (selftests/qemu/payload.c) in an L2 guest with
# hugetlbfs-backed RAM and migrates it ping-pong to a second QEMU
# (selftests/qemu/migrate.py), once per mode, each mode on the KVM it
# names:
#   stock        Debian's own KVM (modprobe from kernel/)
#   split        kvm-split, default parameters
#   split-chunk  kvm-split with kvm.clear_dirty_log_chunk=4096 (16 MiB),
#                QEMU clearing 1 GiB at a time (x-clear-bitmap-shift 18)
#   dirty-ring   kvm-split, QEMU's dirty ring (dirty-ring-size=4096)
#   split-1g     split-chunk with a 2 GiB guest on 1 GiB huge pages, so
#                that its RAM from 1 GiB to 2 GiB is one 1 GiB NPT mapping
#                (the first GiB's memslot starts at 1 MiB: 2M at most)
#                and dirty logging splits 1G -> 4K; the destinations
#                alternate with 2 MiB pages (two free 1 GiB pages and 1024
#                2 MiB pages are enough)
#   corrupt      kvm-split, the check of the check: the payload flips a
#                word of 16 pages behind its table's back after sweep 4,
#                and the run passes only if migrate.py fails on it
# -m does not apply to split-1g.  Pass: every migration of every mode
# verified by the destination guest (a full sweep after the resume, RAM
# identical at the switchover), and no WARNING/BUG in dmesg.  Each
# migration prints its figures and the source
# VM's statistics read by kvm_stat (the kernel's tools/kvm/kvm_stat) from
# debugfs; a table of all modes ends the output.  KVM is left as the VM
# booted it (kvm-split with vm.conf's parameters).
#
# -M: kvm-split as an operator loads it, with modprobe from the DKMS
# install (updates/dkms) instead of insmod from the payload's /modules:
# the CI form runs a migration this way in the same boot as the DKMS
# steps of selftests/debian.list (make -C selftests run-debian-qemu).
# Each kvm-split mode then proves that modprobe took kvm.ko from
# updates/, out of tree, with kvm-split's parameters; parameters are
# given to modprobe; "stock" is refused (modprobe would load the DKMS
# build); the end leaves kvm-split loaded by modprobe with its defaults.
set -u

if [ ! -f /tests/vm.conf ]; then
	echo "SKIP: runs only in the test VM (it swaps the loaded KVM)"
	exit 4
fi
. /tests/vm.conf
HM=/tests/host-modules.sh
N=2 MEM=256 RATE=16 MODPROBE=0
while getopts Mn:m:r: o; do
	case $o in
	M) MODPROBE=1 ;;
	n) N=$OPTARG ;;
	m) MEM=$OPTARG ;;
	r) RATE=$OPTARG ;;
	*) echo "not ok - usage"; exit 1 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 4 ] || { echo "not ok - usage: $0 [-M] [-n N] [-m MiB] [-r MiB/s] <migrate.py> <payload.elf> <kvm_stat> <mode> ..."; exit 1; }
abs() { case "$1" in /*) echo "$1" ;; *) echo "/tests/$1" ;; esac; }
MIGRATE=$(abs "$1") PAYLOAD=$(abs "$2") KVM_STAT=$(abs "$3")
shift 3

fail=0
bad() { echo "not ok - $*"; fail=1; }
for f in "$MIGRATE" "$PAYLOAD" "$KVM_STAT"; do
	[ -f "$f" ] || { echo "not ok - $f missing"; exit 1; }
done
for b in qemu-system-x86_64 python3 modprobe; do
	command -v $b >/dev/null ||
		{ echo "not ok - no $b (this test needs the Debian host image: VM_ROOT=debian)"; exit 1; }
done
qemu-system-x86_64 --version | head -n 1
grep -q ' /dev/hugepages hugetlbfs ' /proc/mounts ||
	mount -t hugetlbfs hugetlbfs /dev/hugepages || { echo "not ok - no hugetlbfs"; exit 1; }
grep -q ' /sys/kernel/debug ' /proc/mounts ||
	mount -t debugfs debugfs /sys/kernel/debug
echo "# 2M huge pages: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free"

OUT=/tmp/qemu-migration
rm -rf "$OUT"
mkdir -p "$OUT"

vendor() { if grep -qw svm /proc/cpuinfo; then echo kvm_amd; else echo kvm_intel; fi; }

# modprobe_kvm [kvm params]: (-M) reload KVM with modprobe, as an
# operator does after the DKMS install, and prove that it is kvm-split's
# from updates/.
modprobe_kvm() {
	v=$(vendor)
	for m in $v kvm; do
		[ ! -d "/sys/module/$m" ] || modprobe -r "$m" ||
			{ echo "modprobe -r $m failed"; return 1; }
	done
	modprobe kvm "$@" || { echo "modprobe kvm $* failed"; return 1; }
	# shellcheck disable=SC2086 # a parameter list
	modprobe "$v" $KVM_AMD_PARAMS || { echo "modprobe $v failed"; return 1; }
	p=$(modinfo -n kvm)
	case "$p" in
	*/updates/*) ;;
	*) echo "modprobe took kvm from $p, not updates/ (no DKMS install?)"; return 1 ;;
	esac
}

# use_kvm <stock|split> [kvm params]: load that KVM, prove which it is.
use_kvm() {
	kind=$1
	shift
	if [ "$kind" = stock ] && [ $MODPROBE = 1 ]; then
		echo "stock: not with -M (modprobe loads the DKMS build)"
		return 1
	elif [ $MODPROBE = 1 ]; then
		modprobe_kvm "$@" || return 1
		[ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ] ||
			{ echo "kvm-split's kvm.ko is not loaded"; return 1; }
	elif [ "$kind" = stock ]; then
		$HM unload || return 1
		if [ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ]; then
			echo "kvm-split's kvm.ko is loaded, not Debian's"
			return 1
		fi
	else
		KVM_PARAMS="$*" KVM_AMD_PARAMS=$KVM_AMD_PARAMS $HM load /modules || return 1
		[ -e /sys/module/kvm/parameters/clear_dirty_log_chunk ] ||
			{ echo "kvm-split's kvm.ko is not loaded"; return 1; }
	fi
	# Which kvm.ko is loaded: kvm-split's has clear_dirty_log_chunk and
	# taints the kernel (out of tree: O; E unsigned); Debian's, loaded by
	# modprobe from kernel/, has neither.
	taint=$(cat /sys/module/kvm/taint)
	if [ "$kind" = stock ]; then
		from="modprobe: $(modinfo -n kvm)"
		[ -z "$taint" ] || { echo "Debian's kvm.ko should not taint ($taint)"; return 1; }
	else
		from=/modules/kvm.ko
		[ $MODPROBE = 0 ] || from="modprobe: $(modinfo -n kvm)"
		case "$taint" in
		*O*) ;;
		*) echo "kvm-split's kvm.ko has taint '$taint', no O"; return 1 ;;
		esac
	fi
	echo "# kvm: $from taint=$taint" \
		"clear_dirty_log_chunk=$(cat /sys/module/kvm/parameters/clear_dirty_log_chunk 2>/dev/null || echo -)"
}

jsons=
for mode in "$@"; do
	echo "# === $mode"
	mem=$MEM
	case $mode in
	stock) use_kvm stock; rc=$? extra= ;;
	split) use_kvm split; rc=$? extra= ;;
	split-chunk)
		use_kvm split clear_dirty_log_chunk=4096; rc=$?
		extra="--clear-bitmap-shift 18" ;;
	dirty-ring) use_kvm split; rc=$? extra="--dirty-ring 4096" ;;
	split-1g)
		use_kvm split clear_dirty_log_chunk=4096; rc=$?
		mkdir -p /dev/hugepages-1G
		grep -q ' /dev/hugepages-1G hugetlbfs ' /proc/mounts ||
			mount -t hugetlbfs -o pagesize=1G hugetlbfs /dev/hugepages-1G ||
			rc=1
		mem=2048
		extra="--clear-bitmap-shift 18 --hugetlbfs /dev/hugepages-1G --hugetlbfs-alt /dev/hugepages" ;;
	corrupt) use_kvm split; rc=$? extra="--expect-corruption 4" ;;
	*) bad "unknown mode $mode"; continue ;;
	esac
	[ "$rc" = 0 ] || { bad "$mode: cannot load its KVM"; continue; }
	d0=$(dmesg | wc -l)
	# shellcheck disable=SC2086 # extra is a word list
	python3 "$MIGRATE" --accel kvm --backend hugetlbfs --mem "$mem" \
		--rate "$RATE" --migrations "$N" --compare-ram --label "$mode" \
		--payload "$PAYLOAD" --workdir "$OUT/$mode" --json "$OUT/$mode.json" \
		--stats-cmd "python3 $KVM_STAT -1 -d -i -p {pid} -f 'pages_|split_huge|clear_dirty|remote_tlb'" \
		$extra 2>&1
	rc=$?
	jsons="$jsons $OUT/$mode.json"
	[ "$rc" = 0 ] || bad "$mode: migration not verified (logs: $OUT/$mode)"
	if dmesg | tail -n +$((d0 + 1)) | grep -E 'WARNING:|BUG:|Oops|general protection'; then
		bad "$mode: kernel reports in dmesg"
	fi
	[ $fail = 0 ] || for f in "$OUT/$mode"/*.serial "$OUT/$mode"/*.stderr; do
		[ -s "$f" ] || continue
		echo "# --- $f (last lines)"
		tail -n 5 "$f" | sed 's/^/#   /'
	done
done
echo "# === summary"
# shellcheck disable=SC2086
python3 "$MIGRATE" --summarize $jsons

# Back to what the VM booted with (-M: what modprobe loads by default).
if [ $MODPROBE = 1 ]; then
	modprobe_kvm || bad "cannot modprobe kvm-split's KVM back"
else
	KVM_PARAMS=$KVM_PARAMS KVM_AMD_PARAMS=$KVM_AMD_PARAMS $HM load /modules ||
		bad "cannot load kvm-split's KVM back"
fi
[ $fail = 0 ] && echo "ok - every migration verified: $*"
exit $fail
