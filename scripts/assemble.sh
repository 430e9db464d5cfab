#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Assemble the KVM module tree for the target kernel:
#
#   build/<abi>/linux/      pristine kernel source (from linux-source-<series>
#                           or a copy of KSRC's KVM directories), extracted once
#                           and shared by the flavours of one Debian ABI
#   build/<kver>/kvm/       what Kbuild compiles: upstream arch/x86/kvm and
#                           virt/kvm with our hook patches applied, patched
#                           copies of the KVM headers in include/override/ (two levels deep:
#                           trace.h finds ../../arch/x86/kvm from there),
#                           our own sources in arch/x86/kvm/kvm-split/
#
# Files are staged first and copied into kvm/ only when their content
# changed, so a second "make" rebuilds only what changed.  Upstream source
# is never written back into the repository.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel

OUT=$BUILD/$KVER
LINUX=$BUILD/$KABI/linux
ASM=$OUT/kvm
STAGE=$OUT/stage

# 1. Pristine source.  A KSRC= tree is copied again when KSRC changes.
from=${KSRC:-$KSRC_TAR}
if [ ! -e "$LINUX/.kvm-split-extracted" ] ||
   { [ -n "${KSRC:-}" ] && [ "$(cat "$LINUX/.kvm-split-extracted")" != "$from" ]; }; then
	rm -rf "$LINUX" && mkdir -p "$LINUX"
	if [ -n "${KSRC:-}" ]; then
		# KVM, and what the selftests build needs (tools/, lib.mk's
		# scripts/subarch.include); their uapi headers are installed
		# from KSRC by build-selftests.sh.  A tree with KVM only (the
		# DKMS build's extract, scripts/dkms-build.sh) has no tools/.
		info "copying KVM and selftests sources from $KSRC"
		# shellcheck disable=SC2046 # the paths that exist
		(cd "$KSRC" && tar -cf - arch/x86/kvm virt/kvm include/linux/kvm_host.h \
			include/linux/kvm_types.h $(ls -d tools scripts/subarch.include 2>/dev/null)) |
			tar -xf - -C "$LINUX"
	else
		[ -f "$KSRC_TAR" ] || die "missing $KSRC_TAR: run scripts/setup.sh"
		info "extracting $(basename "$KSRC_TAR")"
		tar -xf "$KSRC_TAR" -C "$LINUX" --strip-components=1
	fi
	echo "$from" >"$LINUX/.kvm-split-extracted"
fi

# 2. Stage upstream files and apply the hook patches of this series.
# One set per series (6.12, 6.1), or per major version where the hooks
# stay the same across its series (7.x).
PATCHES=$top/arch/x86/patches/$KSERIES
[ -d "$PATCHES" ] || PATCHES=$top/arch/x86/patches/${KSERIES%%.*}.x
[ -d "$PATCHES" ] || die "no hook patches for kernel series $KSERIES (looked in ${PATCHES#"$top"/}); supported: $(ls "$top/arch/x86/patches" | tr '\n' ' ')"
rm -rf "$STAGE" && mkdir -p "$STAGE"
(cd "$LINUX" && tar -cf - arch/x86/kvm virt/kvm include/linux/kvm_host.h \
	include/linux/kvm_types.h) | tar -xf - -C "$STAGE"
for p in "$PATCHES"/*.patch; do
	[ -e "$p" ] || continue
	if ! out=$(patch -d "$STAGE" -p1 -N -F0 --no-backup-if-mismatch -r - <"$p" 2>&1); then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "hook patch ${p#"$top"/} does not apply to $KVER (see the file and hunk above); this kernel needs a refreshed patch set"
	fi
done

# Patched KVM headers go to include/override/, which the build puts ahead
# of the kernel's own include path (NOSTDINC_FLAGS).
mkdir -p "$STAGE/include/override"
mv "$STAGE/include/linux" "$STAGE/include/override/linux"

# 3. Our own sources, next to upstream's.
SPLIT=$STAGE/arch/x86/kvm/kvm-split
mkdir -p "$SPLIT"
(cd "$top" && find virt mmu dirty_log arch/x86 include -name '*.[ch]' -print0 |
	tar --null -cf - -T -) | tar -xf - -C "$SPLIT"
cp "$top/Kbuild" "$STAGE/arch/x86/kvm/Kbuild"
# What differs between kernel series, probed in this kernel's own sources
# (include/kvm-split/compat.h).
"$top/scripts/compat-probe.sh" "$STAGE" >"$SPLIT/include/kvm-split/compat-generated.h"

# 4. Copy into the build tree only what changed (keeps make incremental).
mkdir -p "$ASM"
rsync -rc --delete --exclude='*.o' --exclude='*.ko' --exclude='*.cmd' \
	--exclude='*.mod' --exclude='*.mod.c' --exclude='*.a' --exclude='*.order' \
	--exclude='Module.symvers' --exclude='kvm-asm-offsets.h' --exclude='*.s' \
	--exclude='.*' "$STAGE/" "$ASM/"
echo "$KVER" >"$ASM/.kver"
