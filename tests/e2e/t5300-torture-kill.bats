#!/usr/bin/env bats
# t5300-torture-kill: the nightly pipeline, installed from a signed bundle,
# run night after night and killed with SIGKILL: at random moments, and at
# the labelled kill points (AIRLOCK_TORTURE_KILL_AT, core/sys.c) inside
# seal key evolution, segment rotation and output promotion; between the
# nights, installs of the next version killed at random moments and just
# before the pipeline's link is swapped. After each: the next command
# completes, the audit log verifies with the seal public key, the installed pipeline is the
# old or the new version with exactly its manifest's files; at the end,
# every output of every night committed exactly once with its hash on disk
# and no committed step started again. AIRLOCK_TORTURE_KILLS=N kills
# (default 15; `make torture` runs 200).

load ../lib/common
load ../fixtures/run
load ../fixtures/nightly
load ../fixtures/torture

KILLS=${AIRLOCK_TORTURE_KILLS:-15}

setup() {
	common_setup
	torture_setup
}

teardown() {
	service_stop
}

# fail_one WHAT: records a failure of this trial.
fail_one() {
	echo "trial $t ($mode): $*" | tee -a failures.txt >&3
	bad=1
}

@test "SIGKILL at $KILLS moments of runs and installs: every next command completes, nothing lost or doubled" {
	local t=0 kills=0 failures=0 ver=1 mode pid st bad n v date
	local -A landed=()
	local dates=()
	: >failures.txt
	while [ "$kills" -lt "$KILLS" ] && [ "$t" -lt $((KILLS * 3)) ]; do
		t=$((t + 1))
		bad=0
		case $((t % 6)) in
		0) mode=install ;;
		1) mode=random ;;
		2) mode=seal-evolve n=$((1 + RANDOM % 10)) ;;
		3) mode=segment-rotate n=$((1 + RANDOM % 3)) ;;
		4) mode=promote n=$((1 + RANDOM % 4)) ;;
		5) mode=random ;;
		esac
		if [ "$mode" = install ]; then
			torture_bundle $((ver + 1)) 2>>setup.err
			if [ $((RANDOM % 2)) -eq 0 ]; then
				mode=install-rename
				AIRLOCK_TORTURE_KILL_AT=install-rename:1 airlock -q install "b$((ver + 1)).tar.zst" \
					>/dev/null 2>>runs.err &
				pid=$!
			else
				mode=install-random
				airlock -q install "b$((ver + 1)).tar.zst" >/dev/null 2>>runs.err &
				pid=$!
				sleep "0.0$((RANDOM % 40))"
				kill -KILL "$pid" 2>/dev/null || true
			fi
			st=0
			wait "$pid" 2>/dev/null || st=$?
			v=$(torture_installed "$ver" $((ver + 1))) || fail_one "after the kill: not the old or the new version"
			airlock -q install "b$((ver + 1)).tar.zst" >/dev/null 2>>runs.err || fail_one "the next install failed"
			v=$(torture_installed $((ver + 1)) $((ver + 1))) || fail_one "after the reinstall: version $v"
			ver=$((ver + 1))
		else
			date=$(date -u -d "2030-01-01 + $t days" +%F)
			dates+=("$date")
			drop "$date"
			if [ "$mode" = random ]; then
				airlock -q run "$PIPE" --date "$date" 2>>runs.err &
				pid=$!
				sleep "0.$(printf '%03d' $((RANDOM % 900)))"
				kill -KILL "$pid" 2>/dev/null || true
			else
				AIRLOCK_TORTURE_KILL_AT=$mode:$n airlock -q run "$PIPE" --date "$date" 2>>runs.err &
				pid=$!
			fi
			st=0
			wait "$pid" 2>/dev/null || st=$?
			if ! airlock -q run "$PIPE" --date "$date" 2>>runs.err; then
				fail_one "the next run of $date failed"
			fi
		fi
		if [ "$st" -eq 137 ]; then
			kills=$((kills + 1))
			landed[${mode}]=$((${landed[${mode}]:-0} + 1))
		elif [ "$st" -ne 0 ]; then
			fail_one "the killed command exited $st without being killed"
		fi
		airlock -q audit verify --seal-pub seal.pub >verify.out 2>&1 || fail_one "audit verify: $(cat verify.out)"
		failures=$((failures + bad))
	done
	# the whole history, entry by entry
	if ! torture_log_check "$AIRLOCK_HOME" "${dates[@]}" >check.out; then
		n=$(wc -l <check.out)
		sed 's/^/# /' check.out | head -20 >&3
		failures=$((failures + n))
	fi
	local where=''
	for mode in "${!landed[@]}"; do where+=" $mode=${landed[$mode]}"; done
	echo "# trials: $t, runs: ${#dates[@]}, installs: $((ver - 1)), kills landed:$where" >&3
	echo "# $(cat "$AIRLOCK_HOME"/audit/audit-*.jsonl | jq -c 'select(.event == "seal")' | wc -l) seals, $(ls "$AIRLOCK_HOME"/audit/audit-*.jsonl | wc -l) segments, $(cat "$AIRLOCK_HOME"/audit/audit-*.jsonl | jq -c 'select(.recovered == true)' | wc -l) commits recovered" >&3
	echo "# kills: $kills, failures: $failures (rate $(awk -v f="$failures" -v k="$kills" 'BEGIN { printf "%.1f", k ? 100 * f / k : 100 }')%)" >&3
	[ "$kills" -ge "$KILLS" ]
	[ "$failures" -eq 0 ]
}
