#!/usr/bin/env bats
# t5310-torture-faults: one night of the nightly pipeline (installed from
# a signed bundle, a log that seals every 5 entries and rotates at 4 KiB),
# with one injected failure per run: each write (ENOSPC, EIO), fsync and
# fdatasync (EIO) that goes through core/sys.c, and each write, sync and
# truncate of state.db (sqlite, through the fault VFS of runner/state.c),
# numbered by a dry run's AIRLOCK_FAULTS_TRACE. Every run starts from the
# same home. What must hold (README.md, Testing notes):
#  - a failed call on the audit log (a segment's write or fdatasync, the
#    fsync of audit/ at a rotation or a seal key's store) ends the run with
#    exit 4, never 0;
#  - any other failed call (a step's log, a staged or promoted output, the
#    metrics file, state.db) ends it with 0, 1 or 4, never a crash (a
#    signal) or another code;
#  - in every case, the next run without faults exits 0, the log verifies
#    with the seal public key, every output is committed exactly once with its hash on disk,
#    and a further run starts no committed step again.
# AIRLOCK_TORTURE_FAULTS=N tries N cases chosen at random (default 14);
# =all tries every one (`make torture`).

load ../lib/common
load ../fixtures/run
load ../fixtures/nightly
load ../fixtures/torture

CASES=${AIRLOCK_TORTURE_FAULTS:-14}
DATE=2030-06-01

setup() {
	common_setup
	torture_setup
	drop "$DATE"
	cp -a "$AIRLOCK_HOME" tmpl
}

teardown() {
	service_stop
}

fresh_home() {
	rm -rf "$AIRLOCK_HOME"
	cp -a tmpl "$AIRLOCK_HOME"
}

@test "one injected ENOSPC/EIO per run at each write and sync of the audit log, the runner and state.db" {
	local call n err i st class path bad failures=0 tried=0 total
	local -A outcome=()
	# the dry run: a plan that never fires, to count and name the calls
	fresh_home
	AIRLOCK_FAULTS='write@999999999=EIO' AIRLOCK_FAULTS_TRACE=$PWD/trace0 \
		airlock -q run "$PIPE" --date "$DATE" 2>>runs.err
	: >cases
	for call in write fsync fdatasync sqlite_write sqlite_sync sqlite_truncate; do
		n=$(awk -v c="$call" '$1 == c' trace0 | wc -l)
		for i in $(seq 1 "$n"); do
			case $call in
			write | sqlite_write) echo "$call $i ENOSPC" >>cases; echo "$call $i EIO" >>cases ;;
			*) echo "$call $i EIO" >>cases ;;
			esac
		done
	done
	total=$(wc -l <cases)
	echo "# dry run: $(awk '{print $1}' trace0 | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')$total cases" >&3
	if [ "$CASES" != all ] && [ "$CASES" -lt "$total" ]; then
		shuf -n "$CASES" cases >cases.pick
	else
		cp cases cases.pick
	fi
	while read -r call i err; do
		tried=$((tried + 1))
		bad=''
		fresh_home
		rm -f trace
		st=0
		AIRLOCK_FAULTS="$call@$i=$err" AIRLOCK_FAULTS_TRACE=$PWD/trace \
			airlock -q run "$PIPE" --date "$DATE" 2>>runs.err || st=$?
		path=$(awk -v c="$call" -v i="$i" '$1 == c && $2 == i { print $3; exit }' trace)
		case $path in
		'') class=not-reached ;;
		"$AIRLOCK_HOME"/audit*) class=audit ;;
		"$AIRLOCK_HOME"/outputs*) class=outputs ;;
		"$AIRLOCK_HOME"/runs/*/logs*) class=step-logs ;;
		"$AIRLOCK_HOME"/runs*) class=stage ;;
		"$AIRLOCK_HOME"/metrics*) class=metrics ;;
		-) class=state.db ;;
		*) class=other ;;
		esac
		case $class:$st in
		audit:4 | not-reached:0) ;;
		audit:*) bad+=" exit $st, not 4" ;;
		*:0 | *:1 | *:4) ;;
		*) bad+=" exit $st" ;;
		esac
		outcome[$class:$st]=$((${outcome[$class:$st]:-0} + 1))
		airlock -q run "$PIPE" --date "$DATE" 2>>runs.err || bad+=" the recovery run failed ($?)"
		airlock -q audit verify --seal-pub seal.pub >verify.out 2>&1 || bad+=" audit verify: $(tail -3 verify.out)"
		airlock -q run "$PIPE" --date "$DATE" 2>>runs.err || bad+=" the rerun failed ($?)"
		torture_log_check "$AIRLOCK_HOME" "$DATE" >check.out || bad+=" $(tr '\n' ';' <check.out)"
		if [ -n "$bad" ]; then
			failures=$((failures + 1))
			echo "# $call@$i=$err ($class ${path#"$AIRLOCK_HOME"/}):$bad" >&3
		fi
	done <cases.pick
	echo "# outcomes (class:exit count): $(for k in "${!outcome[@]}"; do printf '%s %s, ' "$k" "${outcome[$k]}"; done)" >&3
	echo "# faults: $tried of $total, failures: $failures (rate $(awk -v f="$failures" -v k="$tried" 'BEGIN { printf "%.1f", k ? 100 * f / k : 100 }')%)" >&3
	[ "$tried" -gt 0 ]
	[ "$failures" -eq 0 ]
}
