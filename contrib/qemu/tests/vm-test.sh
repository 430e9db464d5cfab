#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run contrib/qemu's tests (qemu_patch_test.py) in the Debian 13 test VM:
# the Debian 13 host image (scripts/host-image.sh) booted under TCG with an
# emulated AMD SVM + NPT, as scripts/vm-run.sh boots it, first on Debian's
# own KVM (modprobe kvm_amd: the stock checks), then on kvm-split's modules
# of build/<KVER>/ (insmod: the split, chunk and cancel checks).  The
# patched QEMU, the test and its guest go in on a payload disk, the
# results come back on ttyS1 with the KS-* lines of scripts/vm-run.sh.
#
#   contrib/qemu/tests/vm-test.sh          the tests
#   contrib/qemu/tests/vm-test.sh table    timed migrations for the table
#                                          (migration_table.py; TABLE_MEM,
#                                          TABLE_DELAY, TABLE_RUNS, TABLE_BW)
#   contrib/qemu/tests/vm-test.sh boot     boot touch.elf BOOT_N times per
#                                          group and round (BOOT_ROUNDS):
#                                          Debian's KVM, kvm-split's, and
#                                          kvm-split's with the series'
#                                          properties (BOOT_GROUPS, default
#                                          "stock ks ksprops"; also kssplit,
#                                          kschunk: one property each); a
#                                          guest that does
#                                          not sweep within BOOT_TIMEOUT s
#                                          is a stall, diagnosed
#                                          (boot_loop.py)
#
# HOSTIMG=<dir> names a built image (root.ext4, vmlinuz, initrd.img);
# without it scripts/host-image.sh builds or finds it.  Needs
# "make qemu", "make -C contrib/qemu payload" and "make" (the modules).
# Exit status 1 if either run fails or does not finish.
set -uo pipefail

top=$(cd "$(dirname "$0")/../../.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel

Q=$BUILD/qemu
MODDIR=${KVM_MODDIR:-$BUILD/$KVER/kvm/arch/x86/kvm}
for f in "$Q/bin/qemu-system-x86_64" "$Q/touch.elf" "$MODDIR/kvm.ko" "$MODDIR/kvm-amd.ko"; do
	[ -f "$f" ] || die "$f missing (make qemu; make -C contrib/qemu payload; make)"
done
if [ -z "${HOSTIMG:-}" ]; then
	[ -x "$top/scripts/host-image.sh" ] ||
		die "no scripts/host-image.sh here: set HOSTIMG=<dir of a built Debian 13 host image>"
	HOSTIMG=$("$top/scripts/host-image.sh" build) || die "no Debian 13 host image"
fi
for f in root.ext4 vmlinuz initrd.img; do
	[ -f "$HOSTIMG/$f" ] || die "$HOSTIMG/$f missing"
done

W=$(mktemp -d "$BUILD/qemu/vm.XXXXXX")
trap 'rm -rf "$W"' EXIT
P=$W/payload
mkdir -p "$P/tests" "$P/modules"
MODE=${1:-tests}
cp "$Q/bin/qemu-system-x86_64" "$Q/touch.elf" \
	"$top/contrib/qemu/tests/qemu_patch_test.py" \
	"$top/contrib/qemu/tests/migration_table.py" \
	"$top/contrib/qemu/tests/boot_loop.py" \
	"$top/selftests/qemu/qmp.py" "$P/tests/"
cp "$MODDIR/kvm.ko" "$MODDIR/kvm-amd.ko" "$P/modules/"
cat >"$P/table.conf" <<EOF
MODE=$MODE
TABLE_MEM=${TABLE_MEM:-512}
M="--mem ${TABLE_MEM:-512} --delay ${TABLE_DELAY:-0} --runs ${TABLE_RUNS:-3} --bandwidth ${TABLE_BW:-1024}"
BOOT_N=${BOOT_N:-25}
BOOT_ROUNDS=${BOOT_ROUNDS:-4}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
BOOT_GROUPS="${BOOT_GROUPS:-stock ks ksprops}"
EOF
# The image's ks-init mounts this disk on /ks and runs /ks/init.
cat >"$P/init" <<'EOF'
#!/bin/sh
# kvm-split: contrib/qemu's tests, on Debian's KVM then on kvm-split's.
R=/dev/ttyS1
say() { echo "$*" >$R; }
mkdir -p /tmp /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
say "KS-INFO kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs"
run() {
	name=$1
	shift
	say "KS-RUN $name"
	t0=$(date +%s)
	"$@" >/tmp/$name.out 2>&1
	rc=$?
	while IFS= read -r line; do say "KS-OUT $name $line"; done </tmp/$name.out
	say "KS-RESULT $name $rc $(($(date +%s) - t0))"
}
. /ks/table.conf
if [ "$MODE" = table ]; then
	# Timed migrations: Debian's QEMU on Debian's KVM; Debian's QEMU on
	# kvm-split without and with the in-kernel chunk (1 MiB, the module
	# parameter); the series splitting ahead without a chunk, with
	# chunked clears, and with 128 MiB QEMU clears on top.
	X="python3 /ks/tests/migration_table.py --payload /ks/tests/touch.elf --out /tmp/table.json $M"
	D=/usr/bin/qemu-system-x86_64
	S=/ks/tests/qemu-system-x86_64
	C=/sys/module/kvm/parameters/clear_dirty_log_chunk
	A=kvm,split-huge-pages-ahead=on
	echo $((TABLE_MEM + 64)) >/proc/sys/vm/nr_hugepages
	say "KS-INFO hugepages $(cat /proc/sys/vm/nr_hugepages); $($D --version | head -n 1)"
	modprobe kvm_amd && run table_stock $X --name stock-qemu/stock-kvm --qemu $D
	modprobe -r kvm_amd kvm
	modprobe irqbypass
	modprobe ccp 2>/dev/null
	if insmod /ks/modules/kvm.ko && insmod /ks/modules/kvm-amd.ko; then
		echo 0 >$C && run table_ks $X --name stock-qemu/kvm-split --qemu $D
		echo 256 >$C && run table_kchunk $X --name stock-qemu/kvm-split-kchunk-1M --qemu $D
		echo 0 >$C && run table_split $X --name series/split --qemu $S --accel $A
		run table_series $X --name series/split+chunk-1M --qemu $S \
			--accel $A,clear-dirty-log-chunk=1M
		run table_series_shift $X --name series/split+chunk-1M+shift-15 --qemu $S \
			--accel $A,clear-dirty-log-chunk=1M --clear-bitmap-shift 15
	else
		say "KS-FATAL insmod of kvm-split's modules failed"
	fi
	dmesg | grep -E 'WARNING|BUG|Oops' | while IFS= read -r line; do say "KS-OUT dmesg $line"; done
	say "KS-DONE"
	/bin/busybox poweroff -f
fi
if [ "$MODE" = boot ]; then
	# Blocks of boots, the groups' order rotating from round to round
	# so that a stall rate that grows with the VM's age, the load, or the
	# place in a round shows in every group alike.
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	echo 160 >/proc/sys/vm/nr_hugepages
	B="python3 /ks/tests/boot_loop.py --qemu /ks/tests/qemu-system-x86_64 --payload /ks/tests/touch.elf --boots $BOOT_N --timeout $BOOT_TIMEOUT"
	kvm=none
	use_kvm() {	# stock or ks: load that KVM if it is not the one loaded
		[ "$kvm" = "$1" ] && return 0
		case "$kvm" in
		stock) modprobe -r kvm_amd kvm ;;
		ks) rmmod kvm_amd kvm ;;
		esac
		kvm=none
		if [ "$1" = stock ]; then
			modprobe kvm_amd || { say "KS-FATAL modprobe kvm_amd failed"; return 1; }
		else
			modprobe irqbypass
			modprobe ccp 2>/dev/null
			insmod /ks/modules/kvm.ko && insmod /ks/modules/kvm-amd.ko ||
				{ say "KS-FATAL insmod of kvm-split's modules failed"; return 1; }
		fi
		kvm=$1
	}
	order=$BOOT_GROUPS
	r=1
	while [ $r -le "$BOOT_ROUNDS" ]; do
		for g in $order; do
			case $g in
			stock) use_kvm stock && run boot_stock_$r $B --name stock --accel kvm ;;
			ks) use_kvm ks && run boot_ks_$r $B --name ks --accel kvm ;;
			ksprops) use_kvm ks && run boot_ksprops_$r $B --name ksprops \
				--accel kvm,split-huge-pages-ahead=on,clear-dirty-log-chunk=1M ;;
			kssplit) use_kvm ks && run boot_kssplit_$r $B --name kssplit \
				--accel kvm,split-huge-pages-ahead=on ;;
			kschunk) use_kvm ks && run boot_kschunk_$r $B --name kschunk \
				--accel kvm,clear-dirty-log-chunk=1M ;;
			esac
		done
		order="${order#* } ${order%% *}"
		r=$((r + 1))
	done
	dmesg | grep -E 'WARNING|BUG|Oops' | while IFS= read -r line; do say "KS-OUT dmesg $line"; done
	say "KS-DONE"
	/bin/busybox poweroff -f
fi
T="python3 /ks/tests/qemu_patch_test.py --qemu /ks/tests/qemu-system-x86_64 --payload /ks/tests/touch.elf --mem 128"
if modprobe kvm_amd; then
	say "KS-INFO stock kvm_amd: $(modinfo -F filename kvm_amd)"
	run qemu_stock $T --expect stock --workdir /tmp/stock
else
	say "KS-FATAL modprobe kvm_amd failed"
fi
modprobe -r kvm_amd kvm
modprobe irqbypass
modprobe ccp 2>/dev/null
if insmod /ks/modules/kvm.ko && insmod /ks/modules/kvm-amd.ko; then
	say "KS-INFO kvm-split modules loaded: taint=$(cat /sys/module/kvm/taint)"
	run qemu_kvm_split $T --expect kvm-split --workdir /tmp/ksplit
else
	say "KS-FATAL insmod of kvm-split's modules failed"
fi
dmesg | grep -E 'WARNING|BUG|Oops' | while IFS= read -r line; do say "KS-OUT dmesg $line"; done
say "KS-DONE"
/bin/busybox poweroff -f
EOF
mkfs.ext4 -q -L ks-payload -d "$P" "$W/payload.ext4" \
	"$(($(du -sm "$P" | cut -f1) * 5 / 4 + 64))M" || die "mkfs.ext4 of the payload failed"
qemu-img create -q -f qcow2 -b "$HOSTIMG/root.ext4" -F raw "$W/root.qcow2" ||
	die "cannot make an overlay of $HOSTIMG/root.ext4"

CMDLINE="root=/dev/vda rw init=/sbin/ks-init no_timer_check console=ttyS0"
CMDLINE+=" panic_on_warn=1 panic=-1 oops=panic hugepagesz=1G hugepages=3"
CMDLINE+=" hugepagesz=2M mitigations=off"
CMDLINE+=" nokaslr loglevel=4"
: >"$W/results.log"
info "booting the Debian 13 host image under TCG (timeout ${VM_TIMEOUT:-2400}s; console: ${W#"$top"/}/console.log)"
t0=$(date +%s)
timeout -s KILL "${VM_TIMEOUT:-2400}" nice -n 10 qemu-system-x86_64 -machine q35 \
	-accel tcg,thread=single -cpu EPYC,+svm -m "${VM_MEM:-6144}" -smp 2 \
	-kernel "$HOSTIMG/vmlinuz" -initrd "$HOSTIMG/initrd.img" -append "$CMDLINE" \
	-drive "file=$W/root.qcow2,if=virtio,format=qcow2,cache=unsafe" \
	-drive "file=$W/payload.ext4,if=virtio,format=raw,cache=unsafe" \
	-display none -monitor none -no-reboot -nodefaults \
	-chardev file,id=con,path="$W/console.log" -serial chardev:con \
	-chardev file,id=res,path="$W/results.log" -serial chardev:res \
	2>"$W/qemu.err"
info "VM ran $(($(date +%s) - t0))s"
mkdir -p "$BUILD/qemu/vm-logs"
cp "$W/console.log" "$W/results.log" "$BUILD/qemu/vm-logs/"
[ "$MODE" = table ] && tr -d '\r' <"$W/results.log" |
	sed -n 's/^KS-OUT [^ ]* [^ ]* run [0-9]*: //p' >"$BUILD/qemu/vm-logs/table.json"

fail=0
names="qemu_stock qemu_kvm_split"
[ "$MODE" = table ] && names="table_stock table_ks table_kchunk table_split table_series table_series_shift"
if [ "$MODE" = boot ]; then
	names=
	for r in $(seq 1 "${BOOT_ROUNDS:-4}"); do
		for g in ${BOOT_GROUPS:-stock ks ksprops}; do
			names+=" boot_${g}_$r"
		done
	done
fi
for name in $names; do
	grep -q "^KS-RESULT $name 0 " <(tr -d '\r' <"$W/results.log") || fail=1
done
tr -d '\r' <"$W/results.log" | sed -e 's/^KS-OUT [^ ]* /  /' -e 's/^KS-//'
[ $fail = 0 ] || { tail -n 30 "$W/console.log" >&2; die "contrib/qemu's tests failed or did not finish (logs: build/qemu/vm-logs/)"; }
info "contrib/qemu's tests passed on Debian's KVM and on kvm-split's"
