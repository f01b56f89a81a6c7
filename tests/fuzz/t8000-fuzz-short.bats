#!/usr/bin/env bats
# t8000-fuzz-short: every libFuzzer target (build/fuzz/fuzz_*, made by
# `make fuzz-short`) runs for $FUZZ_CHECK_SECONDS (default 5) on fresh
# seeds without a finding, and every input that tests/fuzz/regressions.sh writes
# <target>/ (each a crash the fuzzers once found) replays cleanly.

load ../lib/common

FUZZ_BIN=${FUZZ_BIN:-$ROOT_DIR/build/fuzz}
TARGETS="manifest keys audit_line audit_verify checkpoint shards bundle validate image restore"

setup_file() {
	[ -x "$FUZZ_BIN/fuzz_manifest" ] || return 0
	FUZZ_BUILD=$BATS_FILE_TMPDIR/fuzz "$ROOT_DIR/tests/fuzz/seeds.sh" >/dev/null
}

# fuzz_short TARGET: runs it on a copy of its seeds; fails on a finding.
fuzz_short() {
	local t=$1 work=$BATS_FILE_TMPDIR/fuzz
	[ -x "$FUZZ_BIN/fuzz_$t" ] || skip "no $FUZZ_BIN/fuzz_$t (make fuzz-short)"
	mkdir -p "$BATS_TEST_TMPDIR/corpus"
	cp "$work/corpus/$t"/* "$BATS_TEST_TMPDIR/corpus/"
	AIRLOCK_FUZZ_KEYS=$work/corpus/bundle-keys AIRLOCK_FUZZ_SCRATCH=$BATS_TEST_TMPDIR run "$FUZZ_BIN/fuzz_$t" \
		-max_total_time="${FUZZ_CHECK_SECONDS:-5}" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$BATS_TEST_TMPDIR/" "$BATS_TEST_TMPDIR/corpus"
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "$output" | grep -v '^#' | tail -40
		return 1
	fi
	printf '%s\n' "$output" | grep -E '^#[0-9]+[[:space:]]+DONE'
}

@test 'fuzz_manifest runs without a finding' {
	fuzz_short manifest
}

@test 'fuzz_keys runs without a finding' {
	fuzz_short keys
}

@test 'fuzz_audit_line runs without a finding' {
	fuzz_short audit_line
}

@test 'fuzz_audit_verify runs without a finding' {
	fuzz_short audit_verify
}

@test 'fuzz_checkpoint runs without a finding' {
	fuzz_short checkpoint
}

@test 'fuzz_shards runs without a finding' {
	fuzz_short shards
}

@test 'fuzz_bundle runs without a finding' {
	fuzz_short bundle
}

@test 'fuzz_validate runs without a finding' {
	fuzz_short validate
}

@test 'fuzz_image runs without a finding' {
	fuzz_short image
}

@test 'fuzz_restore runs without a finding' {
	fuzz_short restore
}

@test 'every input of tests/fuzz/regressions.sh replays cleanly' {
	local t f n=0
	for t in $TARGETS; do
		[ -x "$FUZZ_BIN/fuzz_$t" ] || skip "no $FUZZ_BIN/fuzz_$t (make fuzz-short)"
	done
	"$ROOT_DIR/tests/fuzz/regressions.sh" "$BATS_TEST_TMPDIR/regressions"
	for t in $TARGETS; do
		for f in "$BATS_TEST_TMPDIR/regressions/$t"/*; do
			[ -f "$f" ] || continue
			AIRLOCK_FUZZ_SCRATCH=$BATS_TEST_TMPDIR run "$FUZZ_BIN/fuzz_$t" "$f"
			if [ "$status" -ne 0 ]; then
				printf '%s: %s\n' "$t" "$f"
				printf '%s\n' "$output" | tail -30
				return 1
			fi
			n=$((n + 1))
		done
	done
	[ "$n" -gt 0 ]
}
