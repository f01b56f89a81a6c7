#!/usr/bin/env bats
# t2300-audit-query: the index answers the common questions; `audit sql`
# reads and never writes; the index is a cache that can be rebuilt.

load ../lib/common

setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	export AIRLOCK_HOME=$BATS_FILE_TMPDIR/home
	airlock -q audit init --seal-pub-out seal.pub 2>/dev/null
	helper mklog "$AIRLOCK_HOME" 100 >/dev/null   # 10 runs: run-t-0 .. run-t-9
}

setup() {
	common_setup
	cp -a "$BATS_FILE_TMPDIR/home" home
	export AIRLOCK_HOME=$PWD/home
}

@test 'query by run gives the run entries in order' {
	run -0 airlock --json audit query --run run-t-3
	[ "${#lines[@]}" = 10 ]
	[ "$(printf '%s\n' "$output" | jq -r .event | head -1)" = run.start ]
	[ "$(printf '%s\n' "$output" | jq -r .event | tail -1)" = run.end ]
	printf '%s\n' "$output" | jq -r .seq | sort -nc
}

@test 'query by run, step and event together' {
	run -0 airlock --json audit query --run run-t-5 --step score --event step.end
	[ "${#lines[@]}" = 1 ]
	[ "$(printf '%s' "$output" | jq -r .exit)" = 0 ]
}

@test 'which runs produced this file, by path or by SHA-256' {
	sha=$(printf 'run-t-7' | sha256sum | cut -c1-64)
	run -0 airlock --json audit query --sha256 "$sha"
	[ "${#lines[@]}" = 1 ]
	[ "$(printf '%s' "$output" | jq -r .run)" = run-t-7 ]
	run -0 airlock --json audit query --path scores-7.jsonl
	[ "$(printf '%s' "$output" | jq -r .sha256)" = "$sha" ]
	run -0 airlock --json audit query --path outputs/nightly-risk/2026-11-25/score/scores-7.jsonl
	[ "${#lines[@]}" = 1 ]
	run -0 airlock --json audit query --path cores-7.jsonl # not a suffix at a "/"
	[ -z "$output" ]
}

@test 'query by time range' {
	run -0 airlock --json audit query --event run.start --since 2000-01-01 --until 2999-12-31
	[ "${#lines[@]}" = 10 ]
	run -0 airlock --json audit query --event run.start --until 2000-01-01
	[ -z "$output" ]
	run -2 airlock audit query --since yesterday
	out_has "--since yesterday"
}

@test 'the human form names seq, time, event and fields' {
	run -0 airlock audit query --run run-t-1 --event run.end
	[[ $output =~ ^#[0-9]+\ 20[0-9-]+T[0-9:.]+Z\ run.end\ run=run-t-1\ status=ok\ duration_ms=1000(\ \[[a-z]+/[0-9]+@[^]]+\])?$ ]]
}

@test 'audit sql answers from the tables and in the sqlite3 shell' {
	run -0 airlock audit sql "SELECT run, status FROM runs ORDER BY run LIMIT 2"
	[ "${lines[0]}" = "$(printf 'run\tstatus')" ]
	[ "${lines[1]}" = "$(printf 'run-t-0\tok')" ]
	run -0 airlock --json audit sql "SELECT count(*) AS n, max(seq) AS last FROM entries"
	[ "$(printf '%s' "$output" | jq '.[0].n')" -gt 100 ]
	run -0 sqlite3 home/audit/index.db "SELECT count(*) FROM files WHERE path LIKE '%scores-%'"
	[ "$output" = 10 ]
}

@test 'audit sql refuses writes, ATTACH, pragmas that write and extensions' {
	airlock -q audit reindex
	runs_before=$(sqlite3 home/audit/index.db 'SELECT count(*) FROM runs')
	entries_before=$(sqlite3 home/audit/index.db 'SELECT count(*) FROM entries')
	for sql in "DELETE FROM entries" "DROP TABLE runs" "INSERT INTO runs(run) VALUES('x')" \
		"UPDATE entries SET event = 'x'" "ATTACH DATABASE 'x.db' AS x" "PRAGMA journal_mode = WAL" \
		"PRAGMA writable_schema = 1" "SELECT load_extension('/tmp/x.so')" \
		"CREATE TABLE t(x)" "SELECT 1; DELETE FROM entries" "VACUUM" \
		"WITH x AS (SELECT 1) DELETE FROM entries"; do
		run -2 airlock audit sql "$sql"
		# (the static build's sqlite has no load_extension at all)
		[[ $output == *"read-only"* || $output == *"one statement"* || $output == *"not authorized"* ||
			$output == *"no such function: load_extension"* ]] ||
			{ echo "$sql: $output" >&2; return 1; }
	done
	# nothing was deleted, dropped, inserted or changed; only each refused
	# attempt's own audit.accessed entry (and its log.resume) came in
	[ "$(sqlite3 home/audit/index.db 'SELECT count(*) FROM runs')" = "$runs_before" ]
	[ "$(sqlite3 home/audit/index.db "SELECT count(*) FROM entries WHERE event = 'x'")" = 0 ]
	[ "$(sqlite3 home/audit/index.db "SELECT count(*) FROM entries WHERE event NOT IN ('audit.accessed', 'log.resume')")" = "$((entries_before - 1))" ]
	[ "$(sqlite3 home/audit/index.db "SELECT count(*) FROM entries WHERE event = 'audit.accessed'")" -ge 12 ]
	run -0 sqlite3 home/audit/index.db 'PRAGMA journal_mode'
	[ "$output" = delete ]
	[ ! -e x.db ]
	run -0 airlock audit sql "PRAGMA table_info(entries)"
	run -2 airlock audit sql "SELEKT nonsense"
}

@test 'a deleted index is rebuilt with identical answers' {
	airlock --json audit query --event output.committed >before.json
	airlock --json audit sql "SELECT * FROM runs ORDER BY run" >runs-before.json
	rm home/audit/index.db
	run -0 airlock audit reindex
	airlock --json audit query --event output.committed >after.json
	airlock --json audit sql "SELECT * FROM runs ORDER BY run" >runs-after.json
	cmp before.json after.json
	cmp runs-before.json runs-after.json
	[ "$(wc -l <after.json)" = 10 ]
}

@test 'the index follows the log as it grows, and notices a replaced log' {
	airlock -q audit append --event operator.note --field text=later
	run -0 airlock --json audit query --event operator.note
	[ "$(printf '%s' "$output" | jq -r .text)" = later ]
	# a different log under the same index: rebuilt from scratch
	mv home/audit/index.db saved-index.db
	rm -rf home
	airlock -q audit init --seal-pub-out k0-new.txt 2>/dev/null
	mv saved-index.db home/audit/index.db
	run -0 airlock --json audit query --event operator.note
	[ -z "$output" ]
}

@test 'reading the log is itself logged: audit.accessed with the user and command' {
	airlock -q audit query --event run.end >/dev/null
	airlock -q audit sql 'SELECT 1' >/dev/null
	airlock -q audit tail -n 1 >/dev/null
	run -0 jq -r 'select(.event == "audit.accessed") | [.command, .user, .uid] | @tsv' "$(seg 1)"
	[ "$output" = "$(printf 'query\t%s\t%s\nsql\t%s\t%s\ntail\t%s\t%s' "$(id -un)" "$(id -u)" "$(id -un)" "$(id -u)" "$(id -un)" "$(id -u)")" ]
}

@test 'who cannot write the audit log cannot read it through airlock' {
	chmod -R a+rX home
	run -4 setpriv --reuid=65534 --regid=65534 --clear-groups airlock --home "$PWD/home" audit query --event run.end
	out_has "reading the audit log is itself audited, and cannot be"
}
