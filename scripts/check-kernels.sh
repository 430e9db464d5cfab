#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build kvm-split for every Debian point release of the kernel series that
# apt can still download (make check-kernels): the hook patches must apply
# with no fuzz, our files must build with warnings as errors, and the
# modules' vermagic must match each kernel.  Prints one line per kernel and
# exits non-zero if any failed; logs are in build/check-kernels/.
#
#   check-kernels.sh [--prune] [<kver> ...]
#
# Default: every complete 6.12 release.  --prune deletes each kernel's
# unpacked packages and build tree once it is checked (except the default
# kernel's), keeping only the downloaded .debs: about 2 GB each otherwise.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
[ -z "${KSRC:-}" ] && [ -z "${KDIR:-}" ] ||
	die "check-kernels builds Debian kernels with their own headers: unset KSRC and KDIR"
unset KVER

prune=0
if [ "${1:-}" = --prune ]; then
	prune=1
	shift
fi
default=$(resolve_kernel && echo "$KVER")
kvers=("$@")
if [ ${#kvers[@]} = 0 ]; then
	for v in $(apt_versions "linux-source-$KSERIES"); do
		k="${v%%-*}+deb12"
		# Two uploads of one ABI: make KVER= builds the newest.
		case " ${kvers[*]} " in *" $k "*) continue ;; esac
		if kernel_complete "$k" "$KSERIES" "$v"; then
			kvers+=("$k")
		fi
	done
fi
[ ${#kvers[@]} -gt 0 ] || die "no Debian $KSERIES kernel known to apt"

LOGS=$BUILD/check-kernels
mkdir -p "$LOGS"
failed=0
for k in "${kvers[@]}"; do
	start=$(date +%s)
	if make -C "$top" KVER="$k" modules >"$LOGS/$k.log" 2>&1; then
		r=ok
	else
		r=FAILED
		failed=$((failed + 1))
	fi
	printf '%-16s %-6s %4ss  %s\n' "$k" "$r" "$(($(date +%s) - start))" \
		"$(grep -m1 -e 'does not apply' -e 'error:' -e 'kvm-split: built' \
			"$LOGS/$k.log" || tail -n1 "$LOGS/$k.log")"
	if [ $prune = 1 ] && [ "$k" != "$default" ]; then
		rm -rf "${BUILD:?}/$k" "$BUILD/pkgs/$k"
	fi
done
echo "${#kvers[@]} kernels, $failed failed (logs in ${LOGS#"$top"/})"
[ "$failed" = 0 ]
