# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash disable=SC2034 # sourced; sets variables for its callers
# Shared helpers for kvm-split's scripts: messages, Debian's archive through
# private apt configurations, and kernel resolution.
# Sourced, not executed.  Expects $top to be the repository root.

info() { printf 'kvm-split: %s\n' "$*" >&2; }
die() { printf 'kvm-split: error: %s\n' "$*" >&2; exit 1; }

BUILD=${BUILD:-$top/build}
CACHE=$BUILD/cache

# The Debian kernels kvm-split knows, as "<release tag> <series> <flavours>".
# A series is supported when arch/x86/patches/<series>/ exists; "7.x" is
# every 7.N Debian ships (its backports: linux-source-7.N).
KTARGETS=(
	"deb13 7.x amd64 cloud-amd64 rt-amd64"
	"deb13 6.12 amd64 cloud-amd64 rt-amd64"
	"deb12 6.12 amd64"
	"deb12 6.1 amd64 cloud-amd64 rt-amd64"
)
# Without KVER, and not on a supported Debian kernel: the newest of these.
KDEFAULT_DIST=deb13
KDEFAULT_SERIES=6.12
KDEFAULT_FLAVOUR=amd64

# dist_codename <deb12|deb13>: the Debian suite of a release tag.
dist_codename() {
	case "$1" in
	deb12) echo bookworm ;;
	deb13) echo trixie ;;
	*) return 1 ;;
	esac
}

# series_key <series>: the KTARGETS and patch directory name of a kernel
# series: itself (6.1, 6.12) or, from 7.3 on, "<major>.x" (7.3 -> 7.x).
# 7.0 to 7.2 keep their own name, which has no patches: 7.x's 0001 does
# not apply to 7.2 (7.3 added the export check it points at), and Debian
# has moved its backports on to 7.3.
series_key() {
	case "$1" in
	[0-6].*|7.[0-2]) echo "$1" ;;
	*) echo "${1%%.*}.x" ;;
	esac
}

# series_suite <dist> <series>: the suite that has the series' packages:
# the release's own, or its backports for a newer series (Debian 13's 7.x).
series_suite() {
	case "$1 $(series_key "$2")" in
	"deb13 7.x") echo "$(dist_codename "$1")-backports" ;;
	*) dist_codename "$1" ;;
	esac
}

# series_supported <series>: kvm-split has hook patches for it.
series_supported() { [ -d "$top/arch/x86/patches/$(series_key "$1")" ]; }

# supported_list: what KVER= accepts, for messages.
supported_list() {
	local t d s f out=''
	for t in "${KTARGETS[@]}"; do
		read -r d s f <<<"$t"
		series_supported "$s" || continue
		case "$s" in
		6.1) out+=" 6.1.0-N-{${f// /,}} (Debian 12);" ;;
		*.x) out+=" ${s%.x}.N.x+$d-{${f// /,}}, N >= 3 (Debian ${d#deb} backports);" ;;
		*) out+=" $s.x+$d-{${f// /,}} (Debian ${d#deb});" ;;
		esac
	done
	out=${out# }
	echo "${out%;}"
}

# Private apt configuration per Debian suite, under build/apt/<suite>/:
# its own sources list, lists and cache.  The machine's own apt sources
# are never read or changed, so Debian 12 and 13 machines see the same
# archive.  The binary caches are kept (some images' apt.conf.d disables
# them: rebuilding them costs seconds per query).  Lists older than a day (KVM_SPLIT_APT_MAX_AGE minutes) are
# refreshed; KVM_SPLIT_APT_UPDATE=1 forces it.
APT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
apt_opts() {
	local d=$BUILD/apt/$1
	APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=-
		  -o "Dir::State::lists=$d/lists" -o "Dir::Cache=$d/cache"
		  -o Dir::Cache::pkgcache=pkgcache.bin
		  -o Dir::Cache::srcpkgcache=srcpkgcache.bin
		  -o "Dir::Etc::preferencesparts=$d/preferences.d"
		  -o "Dir::Etc::preferences=$d/preferences" -o APT::Sandbox::User=root
		  -o Acquire::Retries=3)
}

apt_ready() {
	local suite=$1 d=$BUILD/apt/$1 src
	apt_opts "$suite"
	[ -z "${APT_READY[$suite]:-}" ] || return 0
	src="deb [signed-by=$APT_KEYRING] ${DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite main
deb [signed-by=$APT_KEYRING] ${DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite-updates main
deb [signed-by=$APT_KEYRING] ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} $suite-security main"
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/preferences.d"
	# A backports suite alone: only named packages are fetched from it.
	case "$suite" in
	*-backports) src="deb [signed-by=$APT_KEYRING] ${DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite main" ;;
	esac
	if [ "$(cat "$d/sources.list" 2>/dev/null)" != "$src" ]; then
		printf '%s\n' "$src" >"$d/sources.list"
		rm -f "$d/.updated"
	fi
	if [ "${KVM_SPLIT_APT_UPDATE:-0}" = 1 ] || [ ! -e "$d/.updated" ] ||
	   [ -n "$(find "$d/.updated" -mmin +"${KVM_SPLIT_APT_MAX_AGE:-1440}")" ]; then
		[ -f "$APT_KEYRING" ] || die "$APT_KEYRING missing (apt-get install debian-archive-keyring)"
		if [ "$(id -u)" = 0 ] || [ -w "$d/lists" ]; then
			info "updating the package lists of $suite (${d#"$top"/})"
			if apt-get "${APT_OPTS[@]}" update -q >"$d/update.log" 2>&1; then
				touch "$d/.updated"
			elif [ ! -e "$d/.updated" ]; then
				cat "$d/update.log" >&2
				die "apt-get update for $suite failed"
			else
				info "apt-get update for $suite failed: using the old lists"
			fi
		fi
	fi
	APT_READY[$suite]=1
}
declare -A APT_READY=()

# apt_versions <suite> <package>: every version apt can download, newest
# first, once each (madison prints a line per archive that has it).
apt_versions() {
	apt_ready "$1"
	apt-cache "${APT_OPTS[@]}" madison "$2" 2>/dev/null |
		awk -F'|' '{ gsub(/ /, "", $2); if (!seen[$2]++) print $2 }'
}

# apt_pkgnames <suite> <prefix>: package names starting with <prefix>.
apt_pkgnames() {
	apt_ready "$1"
	apt-cache "${APT_OPTS[@]}" pkgnames "$2" 2>/dev/null | sort -V -r
}

# apt_download <suite> <dir> <package>=<version>: fetch one .deb into <dir>.
apt_download() {
	apt_ready "$1"
	(cd "$2" && apt-get "${APT_OPTS[@]}" download -q "$3" >/dev/null)
}

# image_pkg <suite> <release>: the image packages of a kernel release, the
# one with the kernel first.  Debian's images were
# "linux-image-<release>-unsigned" (the signed one being a separate
# package); newer ones drop the suffix; 7.x's "linux-image-<release>" is
# an empty package depending on linux-binary- (vmlinuz, in
# /usr/lib/modules/<release>/), linux-modules- and linux-base-.
image_pkg() {
	if [ -n "$(apt_versions "$1" "linux-image-$2-unsigned")" ]; then
		echo "linux-image-$2-unsigned"
	elif [ -n "$(apt_versions "$1" "linux-binary-$2")" ]; then
		echo "linux-binary-$2 linux-modules-$2 linux-base-$2"
	else
		echo "linux-image-$2"
	fi
}

# kernel_pkgs <suite> <abi> <series> <flavour>: the packages one Debian
# kernel build needs.  6.12's linux-kbuild is per ABI, 6.1's per series;
# 6.12's rt flavour's headers depend on a -common-rt part (7.x's do not).
kernel_pkgs() {
	local kbuild=linux-kbuild-$3 common="linux-headers-$2-common"
	case "$2" in *+deb*) kbuild=linux-kbuild-$2 ;; esac
	case "$4" in rt-*)
		[ -z "$(apt_versions "$1" "linux-headers-$2-common-rt")" ] ||
			common+=" linux-headers-$2-common-rt" ;;
	esac
	echo "linux-source-$3 linux-headers-$2-$4 $common $kbuild $(image_pkg "$1" "$2-$4")"
}

# kernel_complete <suite> <abi> <series> <flavour> <pkgversion>: all of its
# packages exist at that exact version (older point releases stay
# downloadable from the archive, so a version need not be the candidate).
kernel_complete() {
	local p
	for p in $(kernel_pkgs "$1" "$2" "$3" "$4"); do
		apt_versions "$1" "$p" | grep -qxF "$5" || return 1
	done
}

# kernel_abis <dist> <series> <flavour> [<max>]: the Debian ABI names of a
# series that apt can download for a flavour, newest first, each with its
# package version ("<abi> <version>"), complete ones only; at most <max>.
# A "7.x" series is every linux-source-7.N, newest N first.
kernel_abis() {
	local dist=$1 series=$2 flavour=$3 max=${4:-0} n=0 suite v abi p seen=' '
	suite=$(series_suite "$dist" "$series")
	case "$series" in
	*.x)
		for p in $(apt_pkgnames "$suite" "linux-source-${series%x}" |
			   grep -E "^linux-source-${series%.x}\.[0-9]+\$"); do
			[ "$(series_key "${p#linux-source-}")" = "$series" ] || continue
			kernel_abis "$dist" "${p#linux-source-}" "$flavour" "$max"
		done | if [ "$max" = 0 ]; then cat; else head -n "$max"; fi ;;
	6.1)
		# 6.1.0-N: the ABI number is not in the version, ask the images.
		for p in $(apt_pkgnames "$suite" "linux-image-$series.0-" |
			   grep -E "^linux-image-$series\.0-[0-9]+-$flavour(-unsigned)?\$"); do
			abi=${p#linux-image-}
			abi=${abi%-unsigned}
			abi=${abi%-"$flavour"}
			case "$seen" in *" $abi "*) continue ;; esac
			seen+="$abi "
			v=$(apt_versions "$suite" "$p" | sed -n 1p)
			kernel_complete "$suite" "$abi" "$series" "$flavour" "$v" || continue
			echo "$abi $v"
			n=$((n + 1))
			[ "$n" != "$max" ] || return 0
		done ;;
	*)
		for v in $(apt_versions "$suite" "linux-source-$series"); do
			abi="${v%%-*}+$dist"
			# Two uploads of one ABI: the newest is the one built.
			case "$seen" in *" $abi "*) continue ;; esac
			kernel_complete "$suite" "$abi" "$series" "$flavour" "$v" || continue
			seen+="$abi "
			echo "$abi $v"
			n=$((n + 1))
			[ "$n" != "$max" ] || return 0
		done ;;
	esac
}

# parse_release <name>: split a Debian kernel name (an ABI such as
# 6.12.117+deb13 or 6.1.0-56, or a release as uname -r prints it, such as
# 6.12.117+deb13-cloud-amd64) into KABI, KDIST, KSERIES and, when the
# name has one, KFLAVOUR_IN.  Fails on anything else.
parse_release() {
	local re12='^([0-9]+\.[0-9]+\.[0-9]+)\+(deb[0-9]+)(-(.+))?$'
	local re61='^([0-9]+\.[0-9]+)\.0-([0-9]+)(-(.+))?$'
	KFLAVOUR_IN=
	if [[ $1 =~ $re12 ]]; then
		KABI="${BASH_REMATCH[1]}+${BASH_REMATCH[2]}"
		KDIST=${BASH_REMATCH[2]}
		KFLAVOUR_IN=${BASH_REMATCH[4]}
		KSERIES=$(echo "${BASH_REMATCH[1]}" | cut -d. -f1-2)
	elif [[ $1 =~ $re61 ]]; then
		KABI="${BASH_REMATCH[1]}.0-${BASH_REMATCH[2]}"
		KDIST=deb12
		KFLAVOUR_IN=${BASH_REMATCH[4]}
		KSERIES=${BASH_REMATCH[1]}
	else
		return 1
	fi
}

# target_known <dist> <series> <flavour>: listed in KTARGETS.
target_known() {
	local t d s f
	for t in "${KTARGETS[@]}"; do
		read -r d s f <<<"$t"
		[ "$d" = "$1" ] && [ "$s" = "$(series_key "$2")" ] || continue
		case " $f " in *" $3 "*) return 0 ;; esac
	done
	return 1
}

# host_debian_kernel: the running kernel's release when it is a Debian
# kernel (uname -r of Debian's form and /proc/version naming Debian).
host_debian_kernel() {
	local r
	r=$(uname -r)
	grep -qi debian /proc/version 2>/dev/null || return 1
	parse_release "$r" || return 1
	[ -n "$KFLAVOUR_IN" ] || return 1
	echo "$r"
}

# host_codename: the build machine's Debian suite, if any.
host_codename() {
	# shellcheck disable=SC1091
	(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
}

# resolve_kernel: set
#   KVER      the kernel release (as uname -r prints it), e.g.
#             6.12.117+deb13-amd64: the name of build/<KVER>/
#   KABI      Debian ABI name (6.12.117+deb13, 6.1.0-56), KFLAVOUR (amd64,
#             cloud-amd64, rt-amd64), KDIST (deb12, deb13), KSUITE
#             (bookworm, trixie), KSERIES (6.12, 6.1), KPKGVER (package
#             version), PKGROOT (unpacked packages), KDIR (headers dir for
#             M= builds), VMLINUZ (guest kernel), KMODDIR, KSRC_TAR
#   KROOT     the Debian build root (scripts/debian-root.sh) whose
#             toolchain builds for this kernel, empty for the machine's own
# or honour KSRC/KDIR given by the user.  KVER takes an ABI (flavour from
# KFLAVOUR, default amd64) or a release (6.12.117+deb13-cloud-amd64).
# Without KVER: the running kernel when it is a Debian one (it must be
# supported), else the newest Debian 13 6.12 (KFLAVOUR applies).
resolve_kernel() {
	local kroot=${KROOT:-}
	KROOT=
	if [ -n "${KSRC:-}" ]; then
		[ "$kroot" = host ] || KROOT=$kroot
		[ -f "$KSRC/Makefile" ] && [ -d "$KSRC/arch/x86/kvm" ] ||
			die "KSRC=$KSRC is not a kernel tree (no arch/x86/kvm)"
		KSRC=$(cd "$KSRC" && pwd)
		KVER=${KVER:-$(make -s --no-print-directory -C "$KSRC" kernelversion 2>/dev/null)}
		KABI=$KVER
		KDIR=${KDIR:-$KSRC}
		KSERIES=$(echo "$KVER" | cut -d. -f1-2)
		VMLINUZ=${VMLINUZ:-$KSRC/arch/x86/boot/bzImage}
		# A built tree keeps its modules next to their sources.
		KMODDIR=${KMODDIR:-$KDIR}
		return 0
	fi
	local want=${KVER:-} host v line
	if [ -z "$want" ] && [ -z "${CI:-}" ] && host=$(host_debian_kernel); then
		parse_release "$host"
		if series_supported "$KSERIES" && target_known "$KDIST" "$KSERIES" "$KFLAVOUR_IN"; then
			info "targeting the running kernel $host (set KVER= for another)"
			want=$host
		else
			die "the running kernel $host is not one kvm-split supports; supported: $(supported_list) (set KVER= to build for one of them)"
		fi
	fi
	if [ -z "$want" ]; then
		KDIST=$KDEFAULT_DIST KSERIES=$KDEFAULT_SERIES
		KFLAVOUR=${KFLAVOUR:-$KDEFAULT_FLAVOUR}
		KSUITE=$(series_suite "$KDIST" "$KSERIES")
		line=$(kernel_abis "$KDIST" "$KSERIES" "$KFLAVOUR" 1)
		[ -n "$line" ] ||
			die "no complete Debian ${KDIST#deb} $KSERIES $KFLAVOUR kernel (source, headers, image) in $KSUITE's package lists (${BUILD#"$top"/}/apt/$KSUITE; KVM_SPLIT_APT_UPDATE=1 refreshes them), or set KSRC="
		KABI=${line% *} KPKGVER=${line#* }
	else
		parse_release "$want" ||
			die "KVER=$want is not a Debian kernel name (an ABI such as 6.12.117+deb13 or 6.1.0-56, or a release such as 6.12.117+deb13-cloud-amd64); supported: $(supported_list)"
		if [ -n "$KFLAVOUR_IN" ] && [ -n "${KFLAVOUR:-}" ] && [ "$KFLAVOUR" != "$KFLAVOUR_IN" ]; then
			die "KVER=$want names flavour $KFLAVOUR_IN, KFLAVOUR=$KFLAVOUR another"
		fi
		KFLAVOUR=${KFLAVOUR_IN:-${KFLAVOUR:-$KDEFAULT_FLAVOUR}}
		target_known "$KDIST" "$KSERIES" "$KFLAVOUR" ||
			die "KVER=$want: Debian ${KDIST#deb} $KSERIES $KFLAVOUR is not a target kvm-split knows; supported: $(supported_list)"
		KSUITE=$(series_suite "$KDIST" "$KSERIES")
		# An ABI name is built once, so its image has a single version.
		v=$(image_pkg "$KSUITE" "$KABI-$KFLAVOUR")
		v=${v%% *}
		KPKGVER=$(apt_versions "$KSUITE" "$v" | sed -n 1p)
		[ -n "$KPKGVER" ] ||
			die "KVER=$want: no $v package in $KSUITE (known: $(kernel_abis "$KDIST" "$KSERIES" "$KFLAVOUR" | awk '{ print $1 }' | paste -sd' '))"
		for v in $(kernel_pkgs "$KSUITE" "$KABI" "$KSERIES" "$KFLAVOUR"); do
			apt_versions "$KSUITE" "$v" | grep -qxF "$KPKGVER" ||
				die "KVER=$want: $v has no version $KPKGVER; source, headers and image must match"
		done
	fi
	KVER=$KABI-$KFLAVOUR
	# One package root per ABI: the flavours share source, -common headers
	# and kbuild, and unpack their own headers and image beside them.
	PKGROOT=$BUILD/pkgs/$KABI
	KDIR=${KDIR:-$PKGROOT/usr/src/linux-headers-$KVER}
	# Debian 13's images ship their modules in /usr/lib/modules, 7.x's
	# its kernel there too.
	KMODDIR=$PKGROOT/lib/modules/$KVER
	[ -d "$KMODDIR" ] || KMODDIR=$PKGROOT/usr/lib/modules/$KVER
	VMLINUZ=$PKGROOT/boot/vmlinuz-$KVER
	[ -e "$VMLINUZ" ] || [ ! -e "$KMODDIR/vmlinuz" ] || VMLINUZ=$KMODDIR/vmlinuz
	KSRC_TAR=$PKGROOT/usr/src/linux-source-$KSERIES.tar.xz
	# Build with the kernel's own release's toolchain: in a build root of
	# that suite unless the machine runs it.  KROOT=host forces the
	# machine's own toolchain, KROOT=<suite> a root.
	case "$kroot" in
	host) KROOT= ;;
	'') KROOT=$(dist_codename "$KDIST")
	    [ "$(host_codename)" != "$KROOT" ] || KROOT= ;;
	*) KROOT=$kroot ;;
	esac
	return 0
}

# krun <cmd> ...: run a build command with the target's toolchain.
krun() {
	if [ -n "${KROOT:-}" ]; then
		"$top/scripts/debian-root.sh" run "$KROOT" -- "$@"
	else
		"$@"
	fi
}
