# common.sh - shared by vendor/fetch, vendor/update and vendor/build: the
# list of source packages and a private apt configuration with deb-src
# entries for bookworm, so that the machine's own apt sources are never
# changed.
# shellcheck shell=bash

# shellcheck disable=SC2034 # the variables are for the scripts that source this
vendor_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lock_file=$vendor_dir/lock
dl_dir=${VENDOR_DL:-$vendor_dir/dl}
src_dir=${VENDOR_SRC:-$vendor_dir/src}

# The Debian source packages of the libraries the static build links.
# shellcheck disable=SC2034
vendor_packages=(libsodium sqlite3 jansson libzstd zlib libarchive openssl libcsv libseccomp)

die() {
	echo "vendor: $*" >&2
	exit 1
}

# apt_setup: a private apt state under $dl_dir/apt that knows bookworm's
# source packages; sets the array apt_opts for apt-get and apt-cache.
apt_setup() {
	local apt=$dl_dir/apt keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || die "$keyring is missing (apt-get install debian-archive-keyring)"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
	cat >"$apt/sources.list" <<-SOURCES
	deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm main
	deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main
	deb-src [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
	SOURCES
	apt_opts=(
		-o "Dir::Etc::SourceList=$apt/sources.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$apt/lists"
		-o "Dir::Cache=$apt/cache"
		-o "Debug::NoLocking=1"
		-o "APT::Get::Only-Source=1"
		-o "APT::Sandbox::User=root"
	)
	apt-get "${apt_opts[@]}" -qq update || die "apt-get update of the deb-src index failed"
}

# archive_versions PKG: the versions of source package PKG that the
# archive's index lists now, newest first.
archive_versions() {
	apt-cache "${apt_opts[@]}" showsrc "$1" 2>/dev/null |
		sed -n 's/^Version: //p' | sort -Vru
}

# dsc_files DSC: the files a .dsc lists (Checksums-Sha256), one a line.
dsc_files() {
	sed -n '/^Checksums-Sha256:/,/^[^ ]/p' "$1" | awk 'NF == 3 { print $3 }'
}

# lock_line PKG: PKG's line of the lock file ("name version file=sha256 ...").
lock_line() {
	grep -E "^$1 " "$lock_file" || die "$1 is not in $lock_file"
}
