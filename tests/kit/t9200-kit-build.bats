#!/usr/bin/env bats
# t9200-kit-build: `make kit` builds the USB kit from the static binaries:
# every member listed in a signed SHA256SUMS, reproducible to the byte
# with one SOURCE_DATE_EPOCH and one key, a TEST key said loudly.

load ../lib/common
load kit

setup() {
	common_setup
	airlock -q keygen -W -p release.pub -s release.key >/dev/null
	export RELEASE_KEY=$PWD/release.key SOURCE_DATE_EPOCH=1764000000
}

@test 'two make kit runs with one SOURCE_DATE_EPOCH and one key give identical bytes' {
	run -0 make_kit "$PWD/a"
	run -0 make_kit "$PWD/b"
	sa=$(sha256sum <a/kit.tar) sb=$(sha256sum <b/kit.tar)
	echo "a: $sa / b: $sb"
	[ "$sa" = "$sb" ]
	cmp a/kit.tar b/kit.tar
}

@test 'the kit: owner 0/0, one mtime, pax format, sorted, under one top directory' {
	run -0 make_kit "$PWD/a"
	v=$(kit_version)
	run -0 tar -tvf a/kit.tar --full-time
	out_has "airlock-kit-$v/bin/airlock-verify" "airlock-kit-$v/install.sh" "airlock-kit-$v/SHA256SUMS.minisig"
	# every member: 0/0, the epoch's mtime (2025-11-24 16:00:00 UTC)
	bad=$(tar -tvf a/kit.tar --numeric-owner --full-time | grep -v ' 0/0 ' || true)
	[ -z "$bad" ] || { echo "owner: $bad"; false; }
	bad=$(TZ=UTC tar -tvf a/kit.tar --full-time | grep -v ' 2025-11-24 16:00:00 ' || true)
	[ -z "$bad" ] || { echo "mtime: $bad"; false; }
	run -0 tar -tf a/kit.tar
	names=$output
	[ "$(printf '%s\n' "$names" | cut -d/ -f1 | sort -u)" = "airlock-kit-$v" ]
	# no atime/ctime in the pax headers
	run -1 grep -a -q -E '[0-9]+ (atime|ctime)=' a/kit.tar
}

@test 'SHA256SUMS lists every file, and the signature verifies with minisign too' {
	run -0 make_kit "$PWD/a"
	out_has "signed by release key $(keyid_of release.pub)"
	tar -xf a/kit.tar
	cd airlock-kit-*/
	run -0 sha256sum -c --strict SHA256SUMS
	[ "$(find . -type f ! -name 'SHA256SUMS*' | wc -l)" -eq "$(wc -l <SHA256SUMS)" ]
	id=$(keyid_of "$BATS_TEST_TMPDIR/release.pub")
	cmp keys/release-"$id".pub "$BATS_TEST_TMPDIR/release.pub"
	run -0 airlock-verify sig -p "keys/release-$id.pub" -x SHA256SUMS.minisig SHA256SUMS
	if command -v minisign >/dev/null; then
		run -0 minisign -Vm SHA256SUMS -x SHA256SUMS.minisig -p "keys/release-$id.pub"
		out_has "Signature and comment signature verified"
	fi
	cmp bin/airlock "$AIRLOCK_BUILD/airlock"
	cmp bin/airlock-verify "$AIRLOCK_BUILD/airlock-verify"
	cmp vendor/lock "$ROOT_DIR/vendor/lock"
	[ -x install.sh ]
	grep -q '^kit SOURCE_DATE_EPOCH: 1764000000$' BUILDINFO
}

@test 'the kit holds what packaging/ has: man pages, units, cron, completion' {
	run -0 make_kit "$PWD/a"
	run -0 tar -tf a/kit.tar
	for f in "$ROOT_DIR"/packaging/man/*.[15]; do
		[ -e "$f" ] || continue
		out_has "/man/${f##*/}"
	done
	for f in "$ROOT_DIR"/packaging/systemd/* "$ROOT_DIR"/packaging/cron/*; do
		[ -f "$f" ] || continue
		out_has "/$(basename "$(dirname "$f")")/${f##*/}"
	done
	if [ -f "$ROOT_DIR/packaging/completion/airlock" ]; then
		out_has "/completion/airlock"
	fi
}

@test 'the vendored sources rebuild offline: vendor/fetch --offline takes them from the kit' {
	run -0 make_kit "$PWD/a"
	tar -xf a/kit.tar
	kit=$(echo "$PWD"/airlock-kit-*)
	mkdir src
	tar -xf "$kit"/src/airlock-*.tar -C src
	tree=$(echo "$PWD"/src/airlock-*)
	cmp "$tree/vendor/lock" "$kit/vendor/lock"
	run -0 env VENDOR_DL="$PWD/dl" VENDOR_SRC="$PWD/vsrc" "$tree/vendor/fetch" --offline "$kit/vendor"
	out_has "libsodium" "openssl" "verified and unpacked"
}

@test 'without RELEASE_KEY the kit is signed by a TEST key, and says so loudly' {
	unset RELEASE_KEY
	run -0 make_kit "$PWD/t"
	out_has "SIGNED BY A TEST KEY" "Not for production"
	[ -f t/test-release.key ]
	id=$(keyid_of t/test-release.pub)
	out_has "signed by release key $id"
	# the test key is kept: the next kit is signed by the same key
	run -0 make_kit "$PWD/t"
	out_has "signed by release key $id"
}

@test 'make kit refuses a RELEASE_KEY whose public key is not beside it' {
	airlock -q keygen -W -p other.pub -s other.key >/dev/null
	cp other.pub release.pub
	run -2 make_kit "$PWD/a"
	out_has "is not the public key of"
	rm release.pub
	run -2 make_kit "$PWD/a"
	out_has "the public key of RELEASE_KEY is missing"
}
