#!/usr/bin/env bats
# t2500-audit-segments: rotation at --segment-size with the chain going on,
# compressed closed segments, and segments missing, renamed or out of
# place; `audit tail` across them.

load ../lib/common

@test 'segments rotate and the chain goes on across them' {
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	n=$(ls home/audit/audit-*.jsonl | wc -l)
	[ "$n" -ge 4 ]
	for f in home/audit/audit-*.jsonl; do
		[ "$(stat -c %s "$f")" -lt $((8192 + 4096)) ]
	done
	# each segment after the first opens with log.segment, whose prev is
	# the hash of the line before it, in the segment before
	run -0 head -1 "$(seg 2)"
	[ "$(printf '%s' "$output" | jq -r .event)" = log.segment ]
	[ "$(printf '%s' "$output" | jq -r .segment)" = 2 ]
	[ "$(printf '%s' "$output" | jq -r .prev)" = "$(tail -1 "$(seg 1)" | sha256sum | cut -c1-64)" ]
	run -0 airlock audit verify --seal-pub seal.pub
	out_has "in $n segments"
}

@test 'closed segments are compressed with --compress and still verify' {
	mkhome --segment-size 8K --compress
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	zsts=$(ls home/audit/audit-*.jsonl.zst | wc -l)
	plain=$(ls home/audit/audit-*.jsonl | wc -l)
	[ "$zsts" -ge 3 ]
	[ "$plain" = 1 ] # only the open one
	zstd -t home/audit/audit-000001.jsonl.zst
	run -0 airlock audit verify --seal-pub seal.pub
	out_has "intact"
	run -0 airlock --json audit query --run run-t-2 --event run.end
	[ "$(printf '%s' "$output" | jq -r .status)" = ok ]
}

@test 'a missing segment is caught' {
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	rm "$(seg 2)"
	run -1 airlock audit verify
	out_has "segment 000003 follows segment 000001: a segment is missing"
}

@test 'a segment renamed into another place is caught' {
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	mv "$(seg 2)" x && mv "$(seg 3)" "$(seg 2)" && mv x "$(seg 3)"
	run -1 airlock audit verify
	out_has "error: line " "(audit-000002.jsonl:1): seq"
}

@test 'a corrupt compressed segment is caught' {
	mkhome --segment-size 8K --compress
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	f=home/audit/audit-000002.jsonl.zst
	flip_byte "$f" $(( $(size_of "$f") / 2 ))
	run -1 airlock audit verify
	out_has "audit-000002.jsonl.zst"
}

@test 'a log from another host cannot be spliced in' {
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	mkdir other && cd other
	mkhome --segment-size 8K
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	cp "$(seg 3)" ../home/audit/audit-000003.jsonl
	run -1 airlock-verify audit ../home/audit
	[[ $output == *"log_id"* || $output == *"prev is not the SHA-256"* ]]
}

@test 'audit tail prints the last entries, and -f follows across a rotation' {
	mkhome --segment-size 16K
	helper mklog "$AIRLOCK_HOME" 30 >/dev/null
	run -0 airlock --json audit tail -n 3
	[ "${#lines[@]}" = 3 ]
	[ "$(printf '%s\n' "$output" | tail -1 | jq -r .event)" = "$(tail -1 "$(seg 1)" | jq -r .event)" ]
	airlock --json audit tail -f -n 1 >followed.txt &
	pid=$!
	sleep 0.5
	helper mklog "$AIRLOCK_HOME" 200 >/dev/null
	sleep 1
	kill "$pid"
	wait "$pid" || true
	[ "$(ls home/audit/audit-*.jsonl | wc -l)" -gt 1 ]
	# everything written after it started, in order, nothing twice
	run -0 jq -r .seq followed.txt
	[ "$(printf '%s\n' "$output" | sort -n | uniq | wc -l)" = "${#lines[@]}" ]
	[ "$(tail -1 followed.txt | jq -r .seq)" = "$(cat home/audit/audit-*.jsonl | tail -1 | jq -r .seq)" ]
	[ "${#lines[@]}" -ge 200 ]
}
