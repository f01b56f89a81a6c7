#!/usr/bin/env bats
# t9100-reproducible: two `make static` runs in different directories with
# the same SOURCE_DATE_EPOCH produce byte-identical binaries. Two full
# builds: run by `make check-reproducible` (CI), not by `make check`.

load ../lib/common

@test 'make static in two directories gives identical binaries' {
	for d in a b; do
		mkdir "$d"
		git -C "$ROOT_DIR" ls-files -z | (cd "$ROOT_DIR" && xargs -0 cp --parents -t "$BATS_TEST_TMPDIR/$d")
	done
	export VENDOR_DL=$ROOT_DIR/vendor/dl SOURCE_DATE_EPOCH=1764000000
	for d in a b; do
		run -0 make -C "$d" --no-print-directory static
	done
	for b in airlock airlock-verify; do
		sa=$(sha256sum <"a/build/static/$b")
		sb=$(sha256sum <"b/build/static/$b")
		echo "$b: $sa / $sb"
		[ "$sa" = "$sb" ]
	done
}
