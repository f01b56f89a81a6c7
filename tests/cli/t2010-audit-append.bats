#!/usr/bin/env bats
# t2010-audit-append: operators' entries, marked as manual, and what may
# not be appended by hand.

load ../lib/common

setup() {
	common_setup
	mkhome
}

@test 'audit append records the event, its fields and who made it' {
	run -0 airlock --json audit append --event operator.note --field text='restarted the drop share' --field ticket=INC-42
	seq=$(printf '%s' "$output" | jq .seq)
	run -0 jq -c "select(.seq == $seq)" "$(seg 1)"
	line=$output
	[ "$(printf '%s' "$line" | jq -r .event)" = operator.note ]
	[ "$(printf '%s' "$line" | jq -r .text)" = 'restarted the drop share' ]
	[ "$(printf '%s' "$line" | jq -r .ticket)" = INC-42 ]
	[ "$(printf '%s' "$line" | jq -r .manual)" = true ]
	[ "$(printf '%s' "$line" | jq -r .user)" = "$(id -un)" ]
	[ "$(printf '%s' "$line" | jq -r .uid)" = "$(id -u)" ]
	# and the process that wrote it said so first
	run -0 jq -r "select(.seq == $((seq - 1))) | .event" "$(seg 1)"
	[ "$output" = log.resume ]
	run -0 airlock audit verify --seal-key k0.txt
}

@test 'the members are in order: seq, ts, prev, event, then the fields' {
	airlock audit append --event operator.note --field b=2 --field a=1
	run -0 tail -1 "$(seg 1)"
	[[ $output =~ ^\{\"seq\":[0-9]+,\"ts\":\"[0-9T:.-]{26}Z\",\"prev\":\"[0-9a-f]{64}\",\"event\":\"operator.note\",\"b\":\"2\",\"a\":\"1\",\"manual\":true ]]
}

@test 'reserved events and members are refused' {
	for e in log.open log.resume seal clock.backwards log.torn_tail; do
		run -2 airlock audit append --event "$e"
		out_has "only airlock itself writes this event"
	done
	for f in seq ts prev event manual user uid; do
		run -2 airlock audit append --event x.y --field "$f=1"
		out_has "'$f' is set by airlock"
	done
	run -2 airlock audit append --event 'Bad Name'
	out_has "not an event name"
	run -2 airlock audit append --event x.y --field noequals
	out_has "expected KEY=VALUE"
	run -2 airlock audit append --event x.y --field a=1 --field a=2
	out_has "--field a given twice"
	run -2 airlock audit append --event x.y --field "v=$(printf '\377')"
	out_has "not valid UTF-8"
	run -2 airlock audit append --field a=1
	out_has "--event NAME is needed"
	run -0 airlock audit verify
}

@test 'audit append without a log says how to make one' {
	export AIRLOCK_HOME=$PWD/nohome
	run -2 airlock audit append --event x.y
	out_has "no audit log here (run airlock audit init)"
}

@test 'values are kept as given: quotes, newlines, unicode' {
	airlock audit append --event operator.note --field text="$(printf 'a "quoted"\nline é')"
	run -0 jq -r 'select(.event == "operator.note") | .text' "$(seg 1)"
	[ "$output" = "$(printf 'a "quoted"\nline é')" ]
	run -0 airlock audit verify
}
