#!/usr/bin/env bats
# t2210-audit-torn-tail: a partial last line, as after a power cut, is a
# warning; the next append repairs it with log.torn_tail; the log verifies.

load ../lib/common

setup() {
	common_setup
	mkhome
	helper mklog "$AIRLOCK_HOME" 20 >/dev/null
	lines_before=$(wc -l <"$(seg 1)")
}

@test 'a torn last line is a warning until the next append repairs it' {
	printf '{"seq":24,"ts":"2026-11-25T03:00:0' >>"$(seg 1)"
	run -0 airlock audit verify --seal-pub seal.pub
	out_has "warning: line $((lines_before + 1)) (audit-000001.jsonl:$((lines_before + 1))): torn tail"
	run -0 airlock audit append --event operator.note --field after=power-cut
	run -0 airlock audit verify --seal-pub seal.pub
	out_has "warning: line $((lines_before + 1)) (audit-000001.jsonl:$((lines_before + 1))): torn line" \
		"repaired by log.torn_tail at line $((lines_before + 2))"
	run -0 sed -n "$((lines_before + 2))p" "$(seg 1)"
	[ "$(printf '%s' "$output" | jq -r .event)" = log.torn_tail ]
	[ "$(printf '%s' "$output" | jq -r .resume_seq)" = "$lines_before" ]
	[ "$(printf '%s' "$output" | jq -r .seq)" = "$((lines_before + 1))" ]
	want=$(sed -n "${lines_before}p" "$(seg 1)" | sha256sum | cut -c1-64)
	[ "$(printf '%s' "$output" | jq -r .resume_hash)" = "$want" ]
	# the fragment line is kept, as evidence of the cut
	run -0 sed -n "$((lines_before + 1))p" "$(seg 1)"
	[ "$output" = '{"seq":24,"ts":"2026-11-25T03:00:0' ]
}

@test 'an entry that lost only its newline is completed, not torn' {
	truncate -s -1 "$(seg 1)"
	run -0 airlock audit verify
	out_has "torn tail"
	run -0 airlock audit append --event operator.note
	run -0 airlock audit verify --seal-pub seal.pub
	out_lacks "torn"
	run -1 grep -q log.torn_tail "$(seg 1)"
}

@test 'a torn line in the middle without log.torn_tail is tampering' {
	sed -i '10s/.*/{"seq":10,"ts":"2026/' "$(seg 1)"
	run -1 airlock audit verify
	out_has "error: line 10 (audit-000001.jsonl:10): "
}

@test 'a log.torn_tail that does not match its torn line is caught' {
	printf '{"seq":24,"ts":"2026-11' >>"$(seg 1)"
	airlock -q audit append --event operator.note
	sed -i "$((lines_before + 2))s/\"resume_seq\":[0-9]*/\"resume_seq\":3/" "$(seg 1)"
	run -1 airlock audit verify
	out_has "error: line $((lines_before + 2))" "log.torn_tail that does not follow a torn line"
}

@test 'two crashes in a row are repaired one after the other' {
	printf '{"seq":' >>"$(seg 1)"
	airlock -q audit append --event operator.note --field n=1
	printf '{"seq":99,"ts"' >>"$(seg 1)"
	airlock -q audit append --event operator.note --field n=2
	airlock -q audit seal
	run -0 airlock audit verify --seal-pub seal.pub --strict
	[ "$(printf '%s\n' "$output" | grep -c 'torn line')" = 2 ]
}
