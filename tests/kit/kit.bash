# kit.bash - loaded by the tests/kit suites: builds USB kits and .debs into
# scratch directories with a test release key, and runs install.sh on them.
# shellcheck shell=bash disable=SC2154

# The version the kit and the .deb carry.
kit_version() {
	sed -n 's/^#define AL_VERSION "\([^"]*\)".*/\1/p' "$ROOT_DIR/core/core.h"
}

# make_kit DIR [VAR=VALUE...]: `make kit` into DIR (DIR/kit.tar), signed by
# $RELEASE_KEY when set.
make_kit() {
	local dir=$1
	shift
	mkdir -p "$dir"
	make -C "$ROOT_DIR" --no-print-directory kit KIT_DIR="$dir" KIT_OUT="$dir/kit.tar" \
		RELEASE_KEY="${RELEASE_KEY:-}" "$@"
}

# keyid_of PUB: a minisign public key's id, as `airlock keygen` prints it.
keyid_of() {
	sed -n 2p "$1" | base64 -d | od -An -v -tx1 | tr -d ' \n' | cut -c5-20 | sed 's/../& /g' |
		awk '{ for (i = NF; i >= 1; i--) printf "%s", toupper($i); print "" }'
}

# A kit built once per file, unpacked: $KIT (the kit directory) and $KEYID
# (its release key's id). The key is a throw-away one, not the TEST key.
setup_kit_file() {
	local d=$BATS_FILE_TMPDIR
	airlock -q keygen -W -p "$d/release.pub" -s "$d/release.key" >/dev/null
	RELEASE_KEY=$d/release.key SOURCE_DATE_EPOCH=1764000000 make_kit "$d/build" >"$d/make-kit.log" 2>&1 ||
		{ cat "$d/make-kit.log" >&2; return 1; }
	tar -xf "$d/build/kit.tar" -C "$d"
	KIT=$d/airlock-kit-$(kit_version)
	KEYID=$(keyid_of "$d/release.pub")
	export KIT KEYID
}

# install_kit [OPTIONS...]: the pristine install.sh on $KIT (or --kit DIR
# given among OPTIONS) into the scratch root $PWD/root.
install_kit() {
	run "$KIT/install.sh" --prefix "$PWD/root/usr/local" --home "$PWD/root/var/lib/airlock" \
		--unitdir "$PWD/root/etc/systemd/system" --yes "$@"
}

# root_is_empty: nothing was installed under $PWD/root.
root_is_empty() {
	if [ -e root ] && [ -n "$(find root -mindepth 1 | head -1)" ]; then
		echo "root/ is not empty:" >&2
		find root >&2
		return 1
	fi
}
