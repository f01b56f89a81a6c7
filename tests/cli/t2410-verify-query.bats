#!/usr/bin/env bats
# t2410-verify-query: airlock-verify query and sql answer on an export or
# a directory of segments with no home, from the lines the verification
# accepted; a log that does not verify answers nothing (issue 20).

load ../lib/common

setup() {
	common_setup
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	airlock -q audit export -o evidence.tar.zst
	# what the home's own index says, to compare with
	airlock --json audit query --event output.committed >want.jsonl
	[ -s want.jsonl ]
	# the examiner's side: no home, nothing of airlock but airlock-verify
	export AIRLOCK_HOME=$PWD/no-home HOME=$PWD/no-home TMPDIR=$PWD/tmp
	mkdir tmp
}

@test 'airlock-verify query --event output.committed on an export gives what audit query gave' {
	run -0 airlock-verify --json query evidence.tar.zst --event output.committed --seal-pub seal.pub
	diff want.jsonl <(printf '%s\n' "${lines[@]}")
	# the human form too, and the other filters
	run -0 airlock-verify query evidence.tar.zst --event run.start --since 2026-11-25
	out_has "run.start" "pipeline=nightly-risk"
	run -0 airlock-verify --json query evidence.tar.zst --path scores-7.jsonl
	[ "${#lines[@]}" -ge 1 ]
	# nothing written beside the export, nothing left in TMPDIR, no home made
	[ ! -e no-home ]
	[ -z "$(ls -A tmp)" ]
}

@test 'airlock-verify sql runs the same read-only SQL, on an export and on a directory' {
	run -0 airlock-verify sql evidence.tar.zst "SELECT count(*) FROM entries WHERE event = 'output.committed'"
	[ "${lines[1]}" = "$(wc -l <want.jsonl)" ]
	run -0 airlock-verify --json sql evidence.tar.zst 'SELECT event, count(*) AS n FROM entries GROUP BY event ORDER BY event'
	echo "$output" | jq -e 'map(select(.event == "log.open")) | .[0].n == 1'
	cp -a home/audit logdir
	rm -f logdir/index.db
	run -0 --separate-stderr airlock-verify sql logdir 'SELECT count(*) FROM files'
	[ "${lines[1]}" -gt 0 ]
	# a live log's last entries may not be sealed yet: said, on stderr
	# shellcheck disable=SC2154 # set by run --separate-stderr
	[[ $stderr == *"not sealed yet"* ]]
	[ ! -e logdir/index.db ]
	run -2 airlock-verify sql evidence.tar.zst 'DELETE FROM entries'
	out_has "read-only"
	run -2 airlock-verify sql evidence.tar.zst "ATTACH DATABASE 'x.db' AS x"
	[ ! -e x.db ]
	run -2 airlock-verify sql evidence.tar.zst
}

@test 'a tampered export, or the wrong seal key, answers nothing (exit 1)' {
	mkdir x && tar --zstd -xf evidence.tar.zst -C x
	seg=$(ls x/audit-*.jsonl | head -1)
	sed -i '0,/"nightly-risk"/s//"nightly-rizk"/' "$seg"
	cmp -s "$seg" <(tar --zstd -xOf evidence.tar.zst "${seg#x/}") && return 1
	# shellcheck disable=SC2046 # the member names, in order
	(cd x && tar --zstd -cf ../bad.tar.zst $(tar --zstd -tf ../evidence.tar.zst))
	run -1 airlock-verify query bad.tar.zst --event run.start
	out_has "does not verify"
	[ "${#lines[@]}" -le 3 ]
	out_lacks "#"
	run -1 airlock-verify sql bad.tar.zst 'SELECT count(*) FROM entries'
	out_lacks "count(*)"
	AIRLOCK_HOME=$PWD/other airlock -q audit init --seal-pub-out other.pub 2>/dev/null
	run -1 airlock-verify query evidence.tar.zst --seal-pub other.pub
	out_lacks "#"
	run -2 airlock-verify query evidence.tar.zst --seal-pub /nonexistent
	run -2 airlock-verify query /nonexistent.tar.zst
}
