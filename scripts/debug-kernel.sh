#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) and cache the debug kernel of the debug-kernel tier: the
# target Debian kernel's own source (linux-source-<series>, as the default
# tier uses), configured from x86_64_defconfig + kvm_guest.config +
# scripts/debug-kernel.config (lockdep, PROVE_RCU, KASAN, kmemleak,
# DEBUG_VM, KVM_PROVE_MMU, fault injection), built with bzImage and modules
# in place.  Its own arch/x86/kvm/*.ko are the stock (unpatched) KVM of that
# tree.  Prints the tree's path on stdout.
#
#   debug-kernel.sh           build if needed, print the tree
#   debug-kernel.sh --check   print the tree if it is cached, else fail
#
# Cache: $DEBUG_KERNEL_CACHE (default build/debug-kernel)/<kver>-<key>/linux,
# where <key> hashes the config fragment, this recipe and the source
# package version: a change to any of them builds a new tree (about 17
# minutes with 2 cores).  CI keeps the directory between runs to reuse it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
# The source package of the default (distro) target, never a KSRC= tree.
unset KSRC KDIR
resolve_kernel

RECIPE="defconfig+kvm_guest+fragment+lean v1"
FRAG=$top/scripts/debug-kernel.config
LEAN=$top/scripts/debug-kernel-lean.config
JOBS=${JOBS:-$(nproc)}
key=$( { echo "$RECIPE $KPKGVER"; cat "$FRAG" "$LEAN"; } | sha256sum | cut -c1-12)
CACHEDIR=${DEBUG_KERNEL_CACHE:-$BUILD/debug-kernel}
D=$CACHEDIR/$KVER-$key
T=$D/linux

if [ -e "$D/.built" ]; then
	echo "$T"
	exit 0
fi
[ "${1:-}" = --check ] && die "no cached debug kernel for $KVER (key $key) in $CACHEDIR"

[ -f "$KSRC_TAR" ] || "$top/scripts/setup.sh" >&2
[ -f "$KSRC_TAR" ] || die "missing $KSRC_TAR"
mkdir -p "$D"
exec 3>"$D/.lock"
flock 3
if [ ! -e "$D/.built" ]; then
	start=$(date +%s)
	# An interrupted build resumes in the tree it extracted.
	if [ ! -e "$T/.extracted" ]; then
		rm -rf "$T"
		mkdir -p "$T"
		info "debug kernel: extracting $(basename "$KSRC_TAR") into ${T#"$top"/}"
		tar -xf "$KSRC_TAR" -C "$T" --strip-components=1
		touch "$T/.extracted"
	fi
	cp "$FRAG" "$LEAN" "$D/"
	info "debug kernel: configuring (x86_64_defconfig + kvm_guest.config + debug-kernel{,-lean}.config)"
	make -s -C "$T" x86_64_defconfig >&2
	(cd "$T" && scripts/kconfig/merge_config.sh -m .config \
		kernel/configs/kvm_guest.config "$FRAG" "$LEAN") >/dev/null
	make -s -C "$T" olddefconfig >&2
	# Every option asked for must have survived olddefconfig; what the
	# lean fragment drops may be selected by something kept.
	bad=0
	for f in "$FRAG" "$LEAN"; do
		while IFS= read -r l; do
			case "$l" in
			CONFIG_*=*)
				grep -qxF "$l" "$T/.config" ||
					{ info "debug kernel: $l did not stick"; bad=1; } ;;
			"# CONFIG_"*" is not set")
				o=${l#\# }; o=${o%% *}
				grep -q "^$o=" "$T/.config" || continue
				info "debug kernel: $o stays set"
				[ "$f" = "$LEAN" ] || bad=1 ;;
			esac
		done <"$f"
	done
	[ $bad = 0 ] || die "debug kernel: the config fragment does not apply to $KVER"
	info "debug kernel: building bzImage and modules with -j$JOBS (about 17 minutes on 2 cores)"
	make -s -C "$T" -j"$JOBS" bzImage modules >"$D/build.log" 2>&1 ||
		{ tail -n 30 "$D/build.log" >&2; die "debug kernel build failed (${D#"$top"/}/build.log)"; }
	echo "$(($(date +%s) - start))" >"$D/build-seconds"
	info "debug kernel built in $(cat "$D/build-seconds")s"
	touch "$D/.built"
fi
echo "$T"
