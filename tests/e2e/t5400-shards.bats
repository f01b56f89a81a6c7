#!/usr/bin/env bats
# t5400-shards: a run split across hosts (DESIGN.md §11,
# packaging/SHARDING.md), simulated on one machine: N shards as N
# processes with separate homes (each its own log_id and host key), run
# with --shard I/N, each ending with a signed checkpoint; a coordinator
# signs the summary; airlock-verify checks the logs together, and names
# exactly the shard whose log was tampered with.

load ../lib/common
load ../fixtures/run

SHARDS=${AIRLOCK_SHARDS:-8}
ITEMS=${AIRLOCK_SHARD_ITEMS:-1000}
DATE=2031-02-01

setup() {
	common_setup
	# enumerate lists the items; work fans out over them; each shard's
	# work handles its own and records them
	steps p fan '[
	  {"id": "enumerate", "run": ["bin/enumerate"], "outputs": [{"path": "items.txt", "min_rows": 1}]},
	  {"id": "work", "needs": ["enumerate"], "run": ["bin/work"], "fan_out": {"items": "enumerate:items.txt"},
	   "outputs": [{"path": "done.txt"}]}
	]'
	script p enumerate "seq 1 $ITEMS | sed 's/^/account-/' >\"\$AIRLOCK_OUT/items.txt\""
	# shellcheck disable=SC2016 # the step's own variables
	script p work 'while read -r item; do printf "%s %s\n" "$item" "$AIRLOCK_SHARD"; done <"$AIRLOCK_ITEMS" >"$AIRLOCK_OUT/done.txt"
[ "$(wc -l <"$AIRLOCK_OUT/done.txt")" -eq "$AIRLOCK_ITEMS_COUNT" ]'
	mkkey coord
}

# run_shards: every shard's home, run and checkpoint, in parallel.
run_shards() {
	local i pids=()
	for i in $(seq 0 $((SHARDS - 1))); do
		(
			export AIRLOCK_HOME=$PWD/shard$i
			airlock -q audit init --seal-pub-out "$PWD/k0.$i" 2>/dev/null &&
				airlock -q run --unsigned p --date $DATE --shard "$i/$SHARDS" &&
				airlock -q audit checkpoint -o "$PWD/ck$i" >/dev/null
		) >"run$i.log" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { cat "run$i.log" >&2; return 1; }
	done
}

logs() {
	local i
	for i in $(seq 0 $((SHARDS - 1))); do printf '%s\n' "$PWD/shard$i/audit"; done
}

@test "$SHARDS shards x $ITEMS items: every item done once, the logs verified together" {
	run_shards
	# each item was done by exactly one shard, the one its index names
	cat shard*/scratch/outputs/fan/$DATE/work/done.txt | sort >all # unsigned runs
	[ "$(wc -l <all)" -eq "$ITEMS" ]
	[ "$(cut -d' ' -f1 all | sort -u | wc -l)" -eq "$ITEMS" ]
	awk -v n="$SHARDS" '{ sub(/^account-/, "", $1); split($2, s, "/"); if (($1 - 1) % n != s[1]) { print "wrong shard: " $0; exit 1 } }' all
	# every shard's log is its own, and records its shard
	[ "$(for i in $(seq 0 $((SHARDS - 1))); do head -1 shard$i/audit/audit-000001.jsonl | jq -r .log_id; done | sort -u | wc -l)" -eq "$SHARDS" ]
	# (jq -s: jq 1.6's -e looks at the last input, not the last output)
	jq -se 'map(select(.event == "run.start"))[0].shard == {"index": 3, "of": '"$SHARDS"'}' shard3/audit/audit-000001.jsonl
	jq -se 'map(select(.event == "step.start" and .step == "work"))[0].inputs[-1] | .shard == "3/'"$SHARDS"'" and .of == '"$ITEMS"'' shard3/audit/audit-000001.jsonl
	# the coordinator signs the summary of the final checkpoints
	# shellcheck disable=SC2046 # one argument per checkpoint directory
	run -0 airlock audit shards -o summary -s coord.key --name nightly-$DATE $(for i in $(seq 0 $((SHARDS - 1))); do echo "ck$i"; done)
	[ "$(sed -n 2p summary/shards.txt)" -eq "$SHARDS" ]
	minisign -Vm summary/shards.txt -p coord.pub >/dev/null
	# shellcheck disable=SC2046 # one argument per log
	run -0 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub $(logs)
	out_has "intact: all $SHARDS shards of nightly-$DATE, signed summary checked"
	[ "$(grep -c 'anchor holds' <<<"$output")" -eq "$SHARDS" ]
	# a rerun of a shard skips what it committed
	AIRLOCK_HOME=$PWD/shard5 run -0 airlock run --unsigned p --date $DATE --shard "5/$SHARDS"
	[ "$(jq -s '[.[] | select(.event == "step.skipped" and .reason == "already-committed")] | length' shard5/audit/audit-000001.jsonl)" -eq 2 ]
}

@test "one shard's log tampered: only that shard is named" {
	run_shards
	# shellcheck disable=SC2046 # one argument per checkpoint directory
	run -0 airlock audit shards -o summary -s coord.key $(for i in $(seq 0 $((SHARDS - 1))); do echo "ck$i"; done)
	# a committed file's hash, one digit changed, in shard 3's log
	python3 - shard3/audit/audit-000001.jsonl <<-'PY'
	import re, sys
	p = sys.argv[1]
	s = open(p).read()
	m = re.search(r'"sha256":"([0-9a-f])', s)
	s = s[:m.start(1)] + ("1" if m.group(1) == "0" else "0") + s[m.end(1):]
	open(p, "w").write(s)
	PY
	# shellcheck disable=SC2046
	run -1 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub $(logs)
	out_has "FAILED: $((SHARDS - 1)) of $SHARDS shards of shards intact; not intact: shard 3"
	[ "$(grep -c '^shard [0-9]* of .*: intact' <<<"$output")" -eq $((SHARDS - 1)) ]
	grep -q "^shard 3 of shards .*: FAILED (tampered, or not the log it was): $PWD/shard3/audit" <<<"$output"
}

@test "a missing shard, a foreign log, a forged summary: each refused, named" {
	SHARDS=3
	run_shards
	run -0 airlock audit shards -o summary -s coord.key ck0 ck1 ck2
	# shard 2's log not given
	run -1 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub shard0/audit shard1/audit
	out_has "shard 2 of shards" "no log given" "not intact: shard 2"
	# a log that is no shard of the set
	mkdir other
	AIRLOCK_HOME=$PWD/other/home airlock -q audit init --seal-pub-out other/k0 2>/dev/null
	run -1 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub shard0/audit shard1/audit shard2/audit other/home/audit
	out_has "is not a shard of shards"
	# a checkpoint swapped beside the summary: refused against the signed list
	cp summary/shard-0/checkpoint.txt keep
	cp ck1/checkpoint.txt summary/shard-0/checkpoint.txt
	run -1 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub shard0/audit shard1/audit shard2/audit
	out_has "not the checkpoint the summary lists"
	cp keep summary/shard-0/checkpoint.txt
	# the summary changed after signing: nothing is trusted
	sed -i 's/^1 /1  /' summary/shards.txt
	run -1 airlock-verify audit --shards summary/shards.txt --shards-key coord.pub shard0/audit shard1/audit shard2/audit
	out_has "signature"
	# shard 1 run twice (a retry on another node), handed over in place of
	# shard 2: every log intact and signed, yet shard 2's items undone
	(
		export AIRLOCK_HOME=$PWD/retry1
		airlock -q audit init --seal-pub-out "$PWD/k0.retry" 2>/dev/null
		airlock -q run --unsigned p --date $DATE --shard 1/3
		airlock -q audit checkpoint -o "$PWD/ckretry" >/dev/null
	)
	run -0 airlock audit shards -o summary2 -s coord.key ck0 ck1 ckretry
	run -1 airlock-verify audit --shards summary2/shards.txt --shards-key coord.pub shard0/audit shard1/audit retry1/audit
	out_has "shard 2: its run" "was shard 1/3, not 2/3" "not intact: shard 2"
	# a shard of another date
	(
		export AIRLOCK_HOME=$PWD/other2
		airlock -q audit init --seal-pub-out "$PWD/k0.other2" 2>/dev/null
		airlock -q run --unsigned p --date 2031-02-02 --shard 2/3
		airlock -q audit checkpoint -o "$PWD/ckother2" >/dev/null
	)
	run -0 airlock audit shards -o summary3 -s coord.key ck0 ck1 ckother2
	run -1 airlock-verify audit --shards summary3/shards.txt --shards-key coord.pub shard0/audit shard1/audit other2/audit
	out_has "shard 2 ran fan 2031-02-02" "not intact: shard 2"
	# usage
	run -2 airlock-verify audit --shards summary/shards.txt shard0/audit
	run -2 airlock run --unsigned p --date $DATE --shard 3/3
	run -2 airlock run --unsigned p --date $DATE --shard x
}

@test "an items line over 64 KiB is refused, naming the line" {
	export AIRLOCK_HOME=$PWD/one
	airlock -q audit init --seal-pub-out k0.one 2>/dev/null
	script p enumerate 'printf "a\nb\n" >"$AIRLOCK_OUT/items.txt"; head -c 70000 /dev/zero | tr "\0" x >>"$AIRLOCK_OUT/items.txt"'
	run -1 airlock run --unsigned p --date $DATE --shard 0/2
	out_has "fan_out items enumerate:items.txt: line 3 is over 65536 bytes"
}
