#!/usr/bin/env bats
# t9100-reproducible: two `make static` runs in different directories with
# the same SOURCE_DATE_EPOCH produce byte-identical binaries. Two full
# builds: run by `make check-reproducible` (CI), not by `make check`.

load ../lib/common

@test 'make static in two directories gives identical binaries' {
	local sde=1764000000 other=b dirs="a b"
	# build/static of the tree itself counts as the second build when it
	# was made with this SOURCE_DATE_EPOCH from committed files only
	# (.ci/run does so): one build here instead of two
	if [ "$(cat "$ROOT_DIR/build/static/.source-date-epoch" 2>/dev/null)" = "$sde" ] &&
		[ -z "$(git -C "$ROOT_DIR" status --porcelain --untracked-files=no)" ]; then
		other=$ROOT_DIR dirs=a
	fi
	for d in $dirs; do
		mkdir "$d"
		git -C "$ROOT_DIR" ls-files -z | (cd "$ROOT_DIR" && xargs -0 cp --parents -t "$BATS_TEST_TMPDIR/$d")
	done
	export VENDOR_DL=$ROOT_DIR/vendor/dl SOURCE_DATE_EPOCH=$sde
	for d in $dirs; do
		run -0 make -C "$d" --no-print-directory static
	done
	for b in airlock airlock-verify; do
		sa=$(sha256sum <"a/build/static/$b")
		sb=$(sha256sum <"$other/build/static/$b")
		echo "$b: $sa / $sb"
		[ "$sa" = "$sb" ]
	done
}
