# common.bash - loaded by every bats file: puts the airlock binaries under
# test first on PATH, gives each test a scratch directory, and provides
# git-style helpers.
# shellcheck shell=bash disable=SC2154

bats_require_minimum_version 1.5.0

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT_DIR=$(dirname "$TESTS_DIR")
AIRLOCK_BUILD=${AIRLOCK_BUILD:-$ROOT_DIR/build/dyn}
case $AIRLOCK_BUILD in /*) ;; *) AIRLOCK_BUILD=$ROOT_DIR/$AIRLOCK_BUILD ;; esac
PATH=$AIRLOCK_BUILD:$PATH
export PATH AIRLOCK_BUILD
unset AIRLOCK_HOME AIRLOCK_PASSFILE AIRLOCK_FAULTS

# shellcheck source=tests/fixtures/tamper.sh
. "$TESTS_DIR/fixtures/tamper.sh"

common_setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
}

setup() {
	common_setup
}

# out_has TEXT...: the last `run`'s output contains every TEXT (shown on failure).
out_has() {
	local t
	for t in "$@"; do
		if [[ $output != *"$t"* ]]; then
			printf 'output lacks: %s\n--- output was:\n%s\n---\n' "$t" "$output" >&2
			return 1
		fi
	done
}

# out_lacks TEXT: the last `run`'s output does not contain TEXT.
out_lacks() {
	if [[ $output == *"$1"* ]]; then
		printf 'output has: %s\n--- output was:\n%s\n---\n' "$1" "$output" >&2
		return 1
	fi
}

# A throw-away unencrypted key pair NAME.pub / NAME.key.
mkkey() {
	airlock -q keygen -W -p "$1.pub" -s "$1.key" >/dev/null
}
