#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the target kernel's checkpatch.pl on our C sources and headers
# (--strict, file mode) and on the hook patches (patch mode).  Prints the
# findings; exit status 1 if there is any ERROR or WARNING (CHECKs are
# shown but do not fail).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"
resolve_kernel

CP=$BUILD/$KABI/linux/scripts/checkpatch.pl
[ -z "${KSRC:-}" ] || CP=$KSRC/scripts/checkpatch.pl
[ -f "$CP" ] || "$top/scripts/assemble.sh"
[ -f "$CP" ] || die "no checkpatch.pl at $CP"

cd "$top"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# checkpatch <args> <file>: append findings to $out; 0 and 1 are its
# "clean" and "found something", anything else is a crash.
checkpatch() {
	local rc=0
	perl "$CP" --no-tree --terse "$@" >>"$out" 2>&1 || rc=$?
	[ $rc -le 1 ] || { cat "$out"; die "checkpatch.pl failed on ${*: -1} (exit $rc)"; }
}

mapfile -t files < <(git ls-files -- 'virt/*.[ch]' 'mmu/*.[ch]' 'dirty_log/*.[ch]' \
	'arch/*.[ch]' 'include/*.[ch]')
for f in "${files[@]}"; do checkpatch --strict -f "$f"; done
nfiles=${#files[@]}
# Selftests as upstream's are checked: not --strict.  "split" in a string
# is our feature's name, not an embedded function name.
mapfile -t files < <(git ls-files -- 'selftests/*.[ch]')
for f in "${files[@]}"; do
	checkpatch --ignore EMBEDDED_FUNCTION_NAME -f "$f"
done
nfiles=$((nfiles + ${#files[@]}))

# Patch mode.  "./" keeps checkpatch from treating a file tracked in git as
# a source file.  The patches carry no Signed-off-by:.
shopt -s nullglob
patches=(arch/x86/patches/*/*.patch)
for p in "${patches[@]}"; do
	checkpatch --ignore MISSING_SIGN_OFF "./$p"
done

grep -v '^total: ' "$out" || true
e=$(grep -c ': ERROR: ' "$out") || true
w=$(grep -c ': WARNING: ' "$out") || true
c=$(grep -c ': CHECK: ' "$out") || true
info "checkpatch: $nfiles files, ${#patches[@]} patches: $e errors, $w warnings, $c checks"
[ "$e" = 0 ] && [ "$w" = 0 ]
