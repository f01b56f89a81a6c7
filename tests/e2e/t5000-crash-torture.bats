#!/usr/bin/env bats
# t5000-crash-torture: a pipeline of 20 steps killed with SIGKILL at 50
# random moments, each kill followed by a rerun (DESIGN.md §8, "Crash
# safety"). Every rerun completes; every output is committed exactly once
# with the right hash; the audit log verifies; no step whose output was
# committed ever started again.

load ../lib/common
load ../fixtures/run

KILLS=${AIRLOCK_TORTURE_KILLS:-50}

setup() {
	common_setup
	mkhome
	# 20 steps: chains of four, each chain after the previous one's head
	local json='[' i needs
	for i in $(seq 1 20); do
		needs='[]'
		if [ $((i % 4)) -ne 1 ]; then
			needs="[\"s$((i - 1))\"]"
		elif [ "$i" -gt 1 ]; then
			needs="[\"s$((i - 4))\"]"
		fi
		[ "$i" -gt 1 ] && json+=','
		json+="{\"id\": \"s$i\", \"needs\": $needs, \"run\": [\"bin/work\", \"$i\"], \"outputs\": [{\"path\": \"out.txt\", \"min_bytes\": 1}]}"
	done
	steps p p "$json]"
	# a little work, written in pieces, so that kills land mid-write too
	script p work 'echo "step $1" >out.txt; sleep 0.0$((RANDOM % 3)); echo "date $AIRLOCK_DATE" >>out.txt'
	sed -i 's|^#!/bin/sh|#!/bin/bash|' p/bin/work
}

@test "$KILLS kills at random moments, each followed by a rerun that completes" {
	for k in $(seq 1 "$KILLS"); do
		date=$(date -u -d "2026-01-01 + $k days" +%F)
		airlock -q run --unsigned p --date "$date" --jobs 2 2>>runs.err &
		pid=$!
		# anywhere from before the first step to after the last
		sleep "0.$(printf '%03d' $((RANDOM % 300)))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		run airlock -q run --unsigned p --date "$date" --jobs 2
		if [ "$status" -ne 0 ]; then
			echo "rerun $k ($date) failed: $output"
			return 1
		fi
	done
	run -0 airlock audit verify --seal-pub seal.pub
	# the evidence, checked entry by entry
	cat home/audit/audit-*.jsonl >log.jsonl
	run python3 - "$KILLS" "$AIRLOCK_HOME" <<'PY'
import hashlib, json, sys, collections
kills, home = int(sys.argv[1]), sys.argv[2]
entries = [json.loads(l) for l in open("log.jsonl")]
date_of = {e["run"]: e["date"] for e in entries if e["event"] == "run.start"}
commits = collections.defaultdict(list)
starts = collections.defaultdict(list)
for e in entries:
    if e["event"] == "output.committed":
        commits[(date_of[e["run"]], e["step"])].append(e)
    elif e["event"] == "step.start":
        starts[(date_of[e["run"]], e["step"])].append(e["seq"])
bad = []
for k in range(1, kills + 1):
    import datetime
    date = (datetime.date(2026, 1, 1) + datetime.timedelta(days=k)).isoformat()
    for i in range(1, 21):
        key = (date, "s%d" % i)
        c = commits.get(key, [])
        if len(c) != 1:
            bad.append("%s: committed %d times" % (key, len(c)))
            continue
        later = [s for s in starts[key] if s > c[0]["seq"]]
        if later:
            bad.append("%s: started again after its commit (seq %s)" % (key, later))
        path = "%s/scratch/outputs/p/%s/s%d/out.txt" % (home, date, i)
        data = open(path, "rb").read()
        if data != b"step %d\ndate %s\n" % (i, date.encode()):
            bad.append("%s: wrong content %r" % (key, data))
        if hashlib.sha256(data).hexdigest() != c[0]["files"][0]["sha256"]:
            bad.append("%s: hash differs from output.committed" % (key,))
print("\n".join(bad) or "ok")
sys.exit(1 if bad else 0)
PY
	echo "$output"
	[ "$status" -eq 0 ]
	interrupted=$(jq -c 'select(.event=="run.end" and .status=="interrupted")' log.jsonl | wc -l)
	echo "# $interrupted of $KILLS kills interrupted a run; $(jq -c 'select(.recovered==true)' log.jsonl | wc -l) commits recovered" >&3
}
