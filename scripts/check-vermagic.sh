#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Check that the rebuilt modules carry the target kernel's vermagic.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel
dir=$1
# The kernel's own release string: Debian 6.1 headers have the upstream
# version (6.1.192) in kernel.release, the ABI name only in utsrelease.h.
want=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
	"$KDIR/include/generated/utsrelease.h" 2>/dev/null)
[ -n "$want" ] || want=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || echo "$KVER")
for m in kvm kvm-amd kvm-intel; do
	ko=$dir/$m.ko
	[ -f "$ko" ] || die "$m.ko was not built"
	vm=$(modinfo -F vermagic "$ko")
	case "$vm" in
	"$want "*) ;;
	*) die "$m.ko vermagic '$vm' does not match kernel $want" ;;
	esac
done
info "built kvm.ko kvm-amd.ko kvm-intel.ko for $want ($(modinfo -F vermagic "$dir/kvm.ko"))"
