#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build kvm-split for every Debian kernel apt can still download that
# kvm-split supports (make check-kernels): each point release of each
# supported series and Debian release, in each flavour (scripts/lib.sh
# KTARGETS: Debian 13's 7.x backports and 6.12, each amd64, cloud-amd64
# and rt-amd64, Debian 12 6.12 amd64, Debian 12 6.1 in the same three).
# The hook patches must apply with no fuzz, our files must build with
# warnings as errors (with the kernel's own release's toolchain), and the
# modules' vermagic must match each kernel.  Prints one line per kernel and
# exits non-zero if any failed; logs are in build/check-kernels/.
#
#   check-kernels.sh [--prune] [--newest] [--keep <abi>] [--except <kver>]
#                    [<kver> ...]
#
# --newest builds only the newest point release of each series, release
# and flavour (CI).  --prune deletes each kernel's build tree and unpacked
# packages once it is checked (except the default kernel's and those of
# --keep ABIs, which later steps use), keeping only the downloaded .debs:
# about 2 GB per Debian ABI otherwise.  --except leaves a kernel out (CI
# builds and tests the default one itself, at the same time).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
[ -z "${KSRC:-}" ] && [ -z "${KDIR:-}" ] ||
	die "check-kernels builds Debian kernels with their own headers: unset KSRC and KDIR"
unset KVER KFLAVOUR

prune=0 newest=0 keep=' ' except=' '
while [ $# -gt 0 ]; do
	case "$1" in
	--prune) prune=1 ;;
	--newest) newest=1 ;;
	--keep) keep+="$2 "; shift ;;
	--except) except+="$2 "; shift ;;
	*) break ;;
	esac
	shift
done
default=$(CI=1 resolve_kernel && echo "$KABI")
kvers=("$@")
if [ ${#kvers[@]} = 0 ]; then
	max=0
	[ $newest = 0 ] || max=1
	for t in "${KTARGETS[@]}"; do
		read -r d s flavours <<<"$t"
		if ! series_supported "$s"; then
			info "Debian ${d#deb} $s: no hook patches yet (arch/x86/patches/$s), skipped"
			continue
		fi
		for f in $flavours; do
			while read -r abi _; do
				case "$except" in *" $abi-$f "*) continue ;; esac
				kvers+=("$abi $abi-$f")
			done < <(kernel_abis "$d" "$s" "$f" "$max")
		done
	done
	# Flavours of one ABI side by side: they share its packages.
	mapfile -t kvers < <(printf '%s\n' "${kvers[@]}" | sort -V -r -s -k1,1 |
			     cut -d' ' -f2)
fi
[ ${#kvers[@]} -gt 0 ] || die "no supported Debian kernel known to apt"

LOGS=$BUILD/check-kernels
mkdir -p "$LOGS"
failed=0
for i in "${!kvers[@]}"; do
	k=${kvers[$i]}
	start=$(date +%s)
	if make -C "$top" KVER="$k" modules >"$LOGS/$k.log" 2>&1; then
		r=ok
	else
		r=FAILED
		failed=$((failed + 1))
	fi
	printf '%-28s %-6s %4ss  %s\n' "$k" "$r" "$(($(date +%s) - start))" \
		"$(grep -m1 -e 'does not apply' -e 'error:' -e 'kvm-split: built' \
			"$LOGS/$k.log" || tail -n1 "$LOGS/$k.log")"
	[ $prune = 1 ] || continue
	parse_release "$k" || continue
	abi=$KABI
	[ "$abi" != "$default" ] || continue
	case "$keep" in *" $abi "*) continue ;; esac
	rm -rf "${BUILD:?}/$k"
	next=$(parse_release "${kvers[$((i + 1))]:-none}" && echo "$KABI") || true
	if [ "$next" != "$abi" ]; then
		rm -rf "${BUILD:?}/$abi" "$BUILD/pkgs/$abi"
	fi
done
echo "${#kvers[@]} kernels, $failed failed (logs in ${LOGS#"$top"/})"
[ "$failed" = 0 ]
