#!/usr/bin/env bats
# t9010-vendor-fetch: vendor/fetch checks every source file against
# vendor/lock; a changed byte stops it, and `make static` with it.

load ../lib/common

setup() {
	common_setup
	dl=$ROOT_DIR/vendor/dl
	[ -f "$dl/$(awk '!/^#/ { split($3, a, "="); print a[1]; exit }' "$ROOT_DIR/vendor/lock")" ] ||
		skip "the sources are not fetched (make static)"
	# A private copy of the fetched files, so the real ones stay intact.
	mkdir dl src
	awk '!/^#/ { for (i = 3; i <= NF; i++) { split($i, a, "="); print a[1] } }' "$ROOT_DIR/vendor/lock" |
		while read -r f; do cp "$dl/$f" dl/; done
	export VENDOR_DL=$PWD/dl VENDOR_SRC=$PWD/src
}

@test 'vendor/fetch verifies and unpacks the pinned sources' {
	run -0 "$ROOT_DIR/vendor/fetch"
	out_has "libsodium" "verified and unpacked"
	[ -f src/openssl/.airlock-fetched ]
	[ -f src/libarchive/libarchive/archive_read.c ]
	# a second run has nothing to do
	run -0 "$ROOT_DIR/vendor/fetch"
	[ -z "$output" ]
}

@test 'a byte changed in a fetched tarball stops vendor/fetch, naming the file' {
	tarball=$(cd dl && ls libcsv_*.orig.tar.gz)
	flip_byte "dl/$tarball" 1000
	run -1 "$ROOT_DIR/vendor/fetch"
	out_has "dl/$tarball: SHA-256 is" "but vendor/lock pins" "not building from it"
	[ ! -e src/libcsv ]
}

@test 'a changed .dsc stops vendor/fetch too' {
	dsc=$(cd dl && ls jansson_*.dsc)
	printf ' ' >>"dl/$dsc"
	run -1 "$ROOT_DIR/vendor/fetch"
	out_has "dl/$dsc: SHA-256 is"
}

@test 'make static does not build from a tampered source' {
	tarball=$(cd dl && ls libcsv_*.orig.tar.gz)
	flip_byte "dl/$tarball" 1000
	run -2 make -C "$ROOT_DIR" --no-print-directory static
	out_has "$tarball: SHA-256 is"
	out_lacks "vendor/build:"
	out_lacks "LINK"
}

@test 'vendor/fetch --offline takes the files from a directory' {
	mkdir kit
	mv dl/* kit/
	run -0 "$ROOT_DIR/vendor/fetch" --offline kit
	out_has "verified and unpacked"
	rm -rf dl/* src/*
	rm kit/libcsv_*.dsc
	run -1 "$ROOT_DIR/vendor/fetch" --offline kit
	out_has "kit/libcsv_" ".dsc is missing"
}

@test 'a pinned version that Debian no longer offers is said plainly' {
	sed 's/^libcsv [^ ]* /libcsv 3.0.3+dfsg-0.1 /; s/libcsv_3.0.3+dfsg-6.dsc=/libcsv_3.0.3+dfsg-0.1.dsc=/' \
		"$ROOT_DIR/vendor/lock" >lock
	# the script reads the lock beside it: run a copy of vendor/
	mkdir vendor
	cp "$ROOT_DIR"/vendor/{fetch,common.sh} vendor/
	cp lock vendor/lock
	rm -f dl/libcsv_*.dsc
	run vendor/fetch
	if [[ $output == *"apt-get update of the deb-src index failed"* ]]; then
		skip "Debian's archive cannot be reached from here"
	fi
	[ "$status" -eq 1 ]
	out_has "libcsv 3.0.3+dfsg-0.1 cannot be downloaded" "offers now: 3.0.3+dfsg-6." "Run vendor/update"
}
