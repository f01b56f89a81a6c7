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
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'the members are in order: seq, ts, prev, event, the writer\'s stamp, then the fields' {
	airlock audit append --event operator.note --field b=2 --field a=1
	run -0 tail -1 "$(seg 1)"
	[[ $output =~ ^\{\"seq\":[0-9]+,\"ts\":\"[0-9T:.-]{26}Z\",\"prev\":\"[0-9a-f]{64}\",\"event\":\"operator.note\",\"user\":\"$(id -un)\",\"uid\":$(id -u),\"host\":\"$(hostname)\",\"pid\":[0-9]+,\"b\":\"2\",\"a\":\"1\",\"manual\":true ]]
}

@test 'reserved events and members are refused' {
	for e in log.open log.resume seal clock.backwards log.torn_tail; do
		run -2 airlock audit append --event "$e"
		out_has "only airlock itself writes this event"
	done
	for f in seq ts prev event manual user uid host pid; do
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

@test 'every entry carries user, uid, host and pid, stamped by the writer' {
	airlock audit append --event operator.note --field a=1
	airlock audit seal
	run -0 jq -c -s --arg u "$(id -un)" --arg h "$(hostname)" --argjson uid "$(id -u)" \
		'map(select(.user != $u or .uid != $uid or .host != $h or (.pid | type) != "number")) | length' "$(seg 1)"
	[ "$output" = 0 ]
	# the run, seal and log.resume entries too, each with the pid of the process that wrote it
	run -0 jq -r 'select(.event == "log.resume") | .pid' "$(seg 1)"
	[ "${#lines[@]}" -ge 2 ]
	[ "${lines[0]}" != "${lines[1]}" ]
}

@test 'a uid with no name is recorded as user null, not as another name' {
	[ "$(id -u)" = 0 ] || skip "needs root to become a uid without a passwd entry"
	! getent passwd 54321 >/dev/null || skip "uid 54321 has a passwd entry here"
	d=$(mktemp -d /tmp/airlock-t2010.XXXXXX)
	chown 54321:54321 "$d"
	run -0 setpriv --reuid 54321 --regid 54321 --clear-groups \
		env HOME="$d" "$AIRLOCK_BUILD/airlock" --home "$d/home" -q audit init --seal-pub-out "$d/seal.pub"
	run -0 jq -c '[.user, .uid]' "$d/home/audit/audit-000001.jsonl"
	rm -rf "$d"
	[ "${lines[0]}" = '[null,54321]' ]
}

@test 'started by systemd, every entry names the unit; otherwise none does' {
	# a cgroup named as systemd names a unit's, and INVOCATION_ID as
	# systemd sets it for a service
	cg=
	for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
		if [ -w "$d" ] && mkdir "$d/airlock-t2010-$$.service" 2>/dev/null; then
			cg=$d/airlock-t2010-$$.service
			break
		fi
	done
	[ -n "$cg" ] || skip "no writable cgroup hierarchy to make a unit's cgroup in"
	(
		echo "$BASHPID" >"$cg/cgroup.procs"
		INVOCATION_ID=0123456789abcdef airlock -q audit append --event operator.note --field a=b
	)
	rmdir "$cg"
	run -0 jq -r 'select(.event == "operator.note" or .event == "log.resume") | .unit' "$(seg 1)"
	[ "$(printf '%s\n' "$output" | sort -u)" = "airlock-t2010-$$.service" ]
	airlock -q audit append --event operator.note --field a=c
	run -0 jq -r 'select(.event == "operator.note") | .unit' "$(seg 1)"
	[ "$(printf '%s\n' "$output" | tail -1)" = null ]
	# and no caller can claim one
	run -2 airlock audit append --event operator.note --field unit=x.service
}
