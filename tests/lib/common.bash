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

# jq -e: jq 1.6 (Debian 12) exits 0 when its filter produced nothing (no
# input at all, or a select that matched no entry), so a check of entries
# that were never written would pass. Here, as in jq 1.7, -e with no
# output is a failure (exit 4).
jq() {
	local a e=0 out rc
	for a in "$@"; do
		if [ "$a" = --exit-status ] || [[ $a == -[a-zA-Z]* && $a == *e* ]]; then
			e=1
		fi
	done
	[ "$e" = 1 ] || { command jq "$@"; return; }
	out=$(command jq "$@") && rc=0 || rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
	[ "$rc" -ne 0 ] || [ -n "$out" ] || { echo "jq -e: no output (nothing matched): jq $*" >&2; return 4; }
	return "$rc"
}

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

# Test helpers in C (tests/fixtures/*.c), from the build under test or,
# for the static build's run, the development build.
helper() {
	local h=$AIRLOCK_BUILD/tests/$1
	[ -x "$h" ] || h=$ROOT_DIR/build/dyn/tests/$1
	shift
	"$h" "$@"
}

# mkhome [INIT-OPTIONS...]: AIRLOCK_HOME=$PWD/home with a fresh audit log;
# the seal public key is in $PWD/seal.pub.
mkhome() {
	export AIRLOCK_HOME=$PWD/home
	airlock -q audit init --seal-pub-out "$PWD/seal.pub" "$@" 2>/dev/null
}

# fss_record [HOME]: the seal key's record in HOME/audit/fss.key (default
# $AIRLOCK_HOME), without the zeros of its free slot (audit/FORMAT.md §5).
fss_record() {
	tr -d '\0' <"${1:-$AIRLOCK_HOME}/audit/fss.key"
}

# seg N: the path of segment N of $AIRLOCK_HOME's log.
seg() {
	printf '%s/audit/audit-%06d.jsonl' "$AIRLOCK_HOME" "$1"
}

# A throw-away unencrypted key pair NAME.pub / NAME.key.
mkkey() {
	airlock -q keygen -W -p "$1.pub" -s "$1.key" >/dev/null
}
