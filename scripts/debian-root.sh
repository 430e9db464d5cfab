#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian build roots made from Debian's archive with mmdebstrap, cached
# under build/roots/<suite>/, and commands run inside them.  Kernels are
# built with their own release's toolchain: Debian 13's 6.12 with trixie's
# gcc-14 and glibc (its linux-kbuild tools are linked against them), even
# on a Debian 12 machine.
#
#   debian-root.sh create <suite> [pkg ...]   make the root (or reuse it)
#                                              and add packages to it
#   debian-root.sh run <suite> [--] <cmd> ... run a command in the root
#   debian-root.sh path <suite>                print the root's directory
#   debian-root.sh recipe <suite>              print the root's recipe (its
#                                              sources and packages)
#
# <suite> may also be the directory of a root made from this recipe with
# more packages (scripts/host-image.sh's Debian 13 host image): "run"
# enters it as it is.
#
# The recipe is the suite's sources and ROOT_PKGS below: the root is built
# again only when the recipe changes (its hash is kept in
# <root>/.kvm-split-recipe).  Packages given to "create" are installed into
# the existing root with its own apt and listed in <root>/.kvm-split-extra.
# Downloaded .debs are kept in build/cache/roots/<suite>/, so a rebuilt
# root downloads only what changed.
#
# "run" enters the root with chroot in a mount namespace of its own
# (unshare -m): /dev, /proc, a fresh /tmp and the repository and build
# directory bind-mounted at the same paths as outside, so paths mean the same
# thing in and out.  The machine's own apt sources are never touched.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# What an out-of-tree module build, the KVM selftests (static) and
# headers_install need.  gcc is the release's default compiler (gcc-14 in
# trixie, gcc-12 in bookworm) and HOSTCC.
ROOT_PKGS="gcc make libc6-dev binutils bc flex bison libelf-dev libssl-dev
	   xz-utils rsync cpio kmod dwarves file patch"
# 7.x's selftests link libvfio, which needs libuuid.
declare -A SUITE_PKGS=([trixie]="gcc-14 uuid-dev" [bookworm]=gcc-12)

usage() { sed -n '/^#   debian-root/s/^#   //p' "$0" >&2; exit 2; }

[ $# -ge 2 ] || usage
cmd=$1 suite=$2
shift 2
R=$BUILD/roots/$suite
case "$suite" in
trixie|bookworm) ;;
/*)
	[ "$cmd" = run ] && [ -f "$suite/.kvm-split-recipe" ] ||
		die "$suite is not a root made by kvm-split"
	R=$suite ;;
*) die "unknown suite '$suite' (known: trixie bookworm)" ;;
esac

sources() {
	echo "deb [signed-by=$KEYRING] $MIRROR $suite main"
	echo "deb [signed-by=$KEYRING] $MIRROR $suite-updates main"
	echo "deb [signed-by=$KEYRING] $SECURITY $suite-security main"
}

recipe() {
	sources
	echo "$ROOT_PKGS ${SUITE_PKGS[$suite]}" | tr -s ' \t\n' ' '
	echo
}

create() {
	local hash pkgs cache start
	hash=$(recipe | sha256sum | cut -c1-16)
	if [ "$(cat "$R/.kvm-split-recipe" 2>/dev/null)" != "$hash" ]; then
		[ "$(id -u)" = 0 ] || die "creating the $suite build root needs root"
		command -v mmdebstrap >/dev/null || {
			info "installing mmdebstrap"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends mmdebstrap >/dev/null ||
				die "cannot install mmdebstrap"
		}
		[ -f "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"
		pkgs=$(echo "$ROOT_PKGS ${SUITE_PKGS[$suite]}" | tr -s ' \t\n' ',')
		cache=$BUILD/cache/roots/$suite
		mkdir -p "$cache"
		info "creating the $suite build root in ${R#"$top"/} (mmdebstrap)"
		start=$(date +%s)
		rm -rf "$R.new"
		mkdir -p "$(dirname "$R")"
		# Sources go in as a heredoc on stdin (mmdebstrap reads a
		# sources.list there when given "-").
		sources | mmdebstrap --mode=root --variant=apt --format=directory \
			--include="${pkgs%,}" --skip=essential/unlink \
			--aptopt='Acquire::Retries "3"' \
			--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
			--setup-hook="sync-in $cache /var/cache/apt/archives/" \
			--customize-hook="sync-out /var/cache/apt/archives $cache" \
			--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
			"$suite" "$R.new" - >"$BUILD/roots/$suite.log" 2>&1 || {
				tail -n 20 "$BUILD/roots/$suite.log" >&2
				die "mmdebstrap failed (log: ${BUILD#"$top"/}/roots/$suite.log)"
			}
		echo "$hash" >"$R.new/.kvm-split-recipe"
		rm -rf "$R"
		mv "$R.new" "$R"
		info "$suite build root ready in $(($(date +%s) - start))s: $(run_in gcc --version | head -n1)"
	fi
	[ $# -gt 0 ] || return 0
	local want=()
	for p in "$@"; do
		grep -qxF "$p" "$R/.kvm-split-extra" 2>/dev/null || want+=("$p")
	done
	[ ${#want[@]} -gt 0 ] || return 0
	info "adding to the $suite build root: ${want[*]}"
	run_in sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
		sh "${want[@]}" >>"$BUILD/roots/$suite.log" 2>&1 ||
		die "cannot add ${want[*]} (log: ${BUILD#"$top"/}/roots/$suite.log)"
	printf '%s\n' "${want[@]}" >>"$R/.kvm-split-extra"
}

# run_in <cmd> ...: run in the root, in the current directory.
run_in() {
	[ -f "$R/.kvm-split-recipe" ] || die "no $suite build root: run $0 create $suite"
	[ "$(id -u)" = 0 ] || die "entering the $suite build root needs root"
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		R=$1 top=$2 build=$3 cwd=$4
		shift 4
		mount --rbind /dev "$R/dev"
		mount -t proc proc "$R/proc"
		mount -t tmpfs tmpfs "$R/tmp"
		for d in "$top" "$build"; do
			mkdir -p "$R$d"
			mountpoint -q "$R$d" || mount --bind "$d" "$R$d"
		done
		cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
		exec chroot "$R" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 \
			PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM="${TERM:-dumb}" \
			/bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
	' bash "$R" "$top" "$BUILD" "$PWD" "$@"
}

case "$cmd" in
create) create "$@" ;;
run)
	[ "${1:-}" = -- ] && shift
	[ $# -gt 0 ] || usage
	[ "$R" = "$suite" ] || create
	run_in "$@" ;;
path) echo "$R" ;;
recipe) recipe ;;
*) usage ;;
esac
