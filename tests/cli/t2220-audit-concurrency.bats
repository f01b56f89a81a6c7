#!/usr/bin/env bats
# t2220-audit-concurrency: concurrent writers never interleave a line or
# fork the chain.

load ../lib/common

@test '8 writers appending 1000 entries each make one chain' {
	mkhome
	for w in 1 2 3 4 5 6 7 8; do
		helper mklog "$AIRLOCK_HOME" 1000 --tag "w$w" >"w$w.out" 2>&1 &
	done
	wait
	for w in 1 2 3 4 5 6 7 8; do
		grep -q '^1000 entries' "w$w.out"
		[ "$(cat home/audit/audit-*.jsonl | grep -c "\"run\":\"run-w$w-")" = 1000 ]
	done
	run -0 airlock audit verify --seal-pub seal.pub
	out_has "intact"
	# every entry is a whole line, seq runs 1..N with no gap or repeat
	total=$(cat home/audit/audit-*.jsonl | wc -l)
	[ "$(cat home/audit/audit-*.jsonl | jq -r .seq | sort -n | uniq | wc -l)" = "$total" ]
	[ "$total" -ge 8000 ]
	# the writers took turns: their entries interleave
	[ "$(jq -r '.run // empty' home/audit/audit-*.jsonl | sed 's/run-\(w[0-9]\)-.*/\1/' | uniq | wc -l)" -gt 8 ]
}

@test 'concurrent airlock audit append commands, across a rotation' {
	mkhome --segment-size 8K
	for w in 1 2 3 4; do
		( for i in $(seq 1 25); do airlock -q audit append --event operator.note --field "w=$w" --field "i=$i"; done ) &
	done
	wait
	[ "$(cat home/audit/audit-*.jsonl | grep -c '"event":"operator.note"')" = 100 ]
	[ "$(ls home/audit/audit-*.jsonl | wc -l)" -gt 1 ]
	run -0 airlock audit verify --seal-pub seal.pub
}
