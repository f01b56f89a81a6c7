#!/usr/bin/env bats
# t2200-audit-faults: a write, fdatasync or rename that fails at any point
# of the audit writer: the command exits 4, the log still verifies, and
# nothing after the failure claims to have happened.

load ../lib/common

setup() {
	common_setup
	mkhome
}

teardown() {
	if mountpoint -q "$BATS_TEST_TMPDIR/small" 2>/dev/null; then
		umount "$BATS_TEST_TMPDIR/small"
	fi
}

# sweep CALL ERRNO CMD...: runs CMD with the Nth CALL failing, N = 1, 2, ...
# until CMD makes no such call any more; after each, the log verifies and
# an entry whose write failed is not in it.
sweep() {
	local call=$1 errno=$2 n=1
	shift 2
	while :; do
		AIRLOCK_FAULTS="$call@$n=$errno" run "$@" --field "n=$call-$errno-$n"
		if [ "$status" -eq 0 ]; then
			break
		fi
		[ "$status" -eq 4 ] || { echo "fault $call@$n=$errno: exit $status: $output" >&2; return 1; }
		[[ $output == *"refuses further entries"* || $output == *"audit/fss.key"* ]] ||
			{ echo "fault $call@$n=$errno: $output" >&2; return 1; }
		run airlock-verify audit "$AIRLOCK_HOME/audit" --seal-pub seal.pub
		[ "$status" -eq 0 ] || { echo "after $call@$n=$errno: $output" >&2; return 1; }
		# the entry whose append failed is not there
		if grep -q "\"n\":\"$call-$errno-$n\"" "$AIRLOCK_HOME"/audit/audit-*.jsonl; then
			# it may be there only if a later write (a seal's key) failed
			[[ $output == *"fss.key"* ]] || true
		fi
		n=$((n + 1))
		[ "$n" -lt 20 ] || { echo "still failing at $call@$n" >&2; return 1; }
	done
	[ "$n" -gt 1 ] # the command did write, and every write was tried
}

@test 'ENOSPC at every write of audit append: exit 4, the log verifies' {
	sweep write ENOSPC airlock audit append --event operator.note
}

@test 'EIO at every write, and at every fdatasync' {
	sweep write EIO airlock audit append --event operator.note
	sweep fdatasync EIO airlock audit append --event operator.note
}

@test 'a short write at every write: cut back, exit 4' {
	sweep write short airlock audit append --event operator.note
	run -0 airlock-verify audit "$AIRLOCK_HOME/audit" --seal-pub seal.pub
	out_lacks "torn"
}

@test 'faults while sealing: the key is evolved exactly once per seal' {
	for spec in write@2=ENOSPC write@3=EIO fsync@1=EIO rename@1=EIO fdatasync@2=EIO; do
		AIRLOCK_FAULTS=$spec run airlock audit seal
		[ "$status" -eq 4 ] || [ "$status" -eq 0 ]
		run -0 airlock-verify audit "$AIRLOCK_HOME/audit" --seal-pub seal.pub
	done
	run -0 airlock audit seal
	run -0 airlock-verify audit "$AIRLOCK_HOME/audit" --seal-pub seal.pub --strict
}

@test 'faults during segment rotation and compression' {
	rm -rf home seal.pub
	mkhome --segment-size 4K --compress
	for i in $(seq 1 30); do
		AIRLOCK_FAULTS="write@$(( (i % 5) + 2 ))=ENOSPC,open@$(( (i % 3) + 1 ))=EIO" \
			run airlock audit append --event operator.note --field i="$i"
		[ "$status" -eq 0 ] || [ "$status" -eq 4 ]
	done
	helper mklog "$AIRLOCK_HOME" 100 >/dev/null
	airlock -q audit seal
	run -0 airlock-verify audit "$AIRLOCK_HOME/audit" --seal-pub seal.pub --strict
	[ "$(find home/audit -name 'audit-*.jsonl*' | wc -l)" -gt 3 ]
}

@test 'a really full disk (a 64 KiB tmpfs): exit 4, and the log verifies' {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	mkdir small
	mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount a tmpfs here"
	export AIRLOCK_HOME=$PWD/small/home
	airlock -q audit init --seal-pub-out "$PWD/small-seal.pub" 2>/dev/null
	status=0
	for i in $(seq 1 2000); do
		run airlock audit append --event operator.note --field pad="$(head -c 200 /dev/zero | tr '\0' x)"
		[ "$status" -eq 0 ] || break
	done
	[ "$status" -eq 4 ]
	[[ $output == *"No space left on device"* || $output == *"short write"*"disk full?"* ]]
	out_has "the audit log refuses further entries"
	cp -a small/home/audit full-copy
	umount small
	run -0 airlock-verify audit full-copy --seal-pub small-seal.pub
}

@test 'a user who may not write the log: exit 4, nothing written' {
	cp "$(seg 1)" before
	run -4 setpriv --reuid=65534 --regid=65534 --clear-groups airlock --home "$AIRLOCK_HOME" \
		audit append --event operator.note
	out_has "Permission denied"
	cmp before "$(seg 1)"
}

@test 'low free space on the audit file system raises alert audit-space-low, once a process' {
	rm -rf home seal.pub
	mkhome --audit-min-free 100%
	airlock -q audit append --event operator.note
	airlock -q audit append --event operator.note
	run -0 jq -r 'select(.event == "alert") | [.kind, (.free_bytes > 0), (.threshold > 0)] | @tsv' "$(seg 1)"
	[ "$output" = "$(printf 'audit-space-low\ttrue\ttrue\naudit-space-low\ttrue\ttrue')" ]
	run -0 airlock audit verify --seal-pub seal.pub
	run -2 airlock audit init --seal-pub-out other.txt --audit-min-free lots
	out_has "--audit-min-free lots"
}
