#!/usr/bin/env bats
# t7200-compliance-walkthrough: the regulator's walkthrough of
# COMPLIANCE.md, taken from the document and run as written. Every line
# that starts with "$ " in a fenced block of its "walkthrough" section is
# a command: those under "### 1." run at the bank (in bank/, with
# AIRLOCK_HOME set), the others on the examiner's "laptop" (an empty
# directory holding only what the bank handed over), all in order, each
# in the same shell as the one before (variables and cd carry over). The
# answers must be right; and a byte flipped in the exported segment must
# make both airlock-verify and the jq/sha256sum chain check fail.

load ../lib/common
load ../fixtures/run

DATE=2026-11-25
LATER=2026-11-26

setup() {
	common_setup
	mkhome
	# a pipeline whose one step writes results.csv (its bytes depend on
	# the logical date, so two dates give two different files)
	steps p p '[{"id": "report", "run": ["bin/report"], "outputs": [{"path": "results.csv", "min_bytes": 1}]}]'
	script p report 'printf "date,account,score\n%s,A-1,0.51\n%s,A-2,0.73\n" "$AIRLOCK_DATE" "$AIRLOCK_DATE" >results.csv'
	airlock -q run --unsigned p --date $DATE 2>/dev/null
	RUN_A=$(audit_events '.event=="run.start"' | jq -r .run)
	[ -n "$RUN_A" ]
	mkdir bank laptop laptop-home
	# the examiner's copy of the file in question
	cp "$AIRLOCK_HOME/scratch/outputs/p/$DATE/report/results.csv" bank/
	H=$(sha256sum bank/results.csv | cut -c1-64)
	extract_walkthrough >cmds.tsv
	[ "$(grep -c "^host	" cmds.tsv)" -ge 3 ]
	[ "$(grep -c "^laptop	" cmds.tsv)" -ge 10 ]
}

# The "$ " lines of COMPLIANCE.md's walkthrough section, as PART<TAB>COMMAND.
extract_walkthrough() {
	awk '
		/^## / { on = tolower($0) ~ /walkthrough/; next }
		!on { next }
		/^### / { part = ($2 == "1.") ? "host" : "laptop"; next }
		/^```/ { fence = !fence; next }
		fence && /^\$ / { print part "\t" substr($0, 3) }
	' "$ROOT_DIR/COMPLIANCE.md"
}

# mkscript PART DIR [HOOK-PATTERN HOOK]: a bash script that runs PART's
# commands in order in one shell, each one's stdout, stderr and status in
# DIR/N.out, DIR/N.err, DIR/N.rc (N counting the commands of that part
# from 1). After a command matching HOOK-PATTERN, HOOK runs (quietly).
mkscript() {
	local part=$1 dir=$2 pat=${3:-} hook=${4:-} n=0 cmd
	mkdir -p "$dir"
	while IFS= read -r cmd; do
		n=$((n + 1))
		printf '%s\n' "$cmd" >"$dir/$n.cmd"
		printf '{\n%s\n} >%q 2>%q </dev/null; echo $? >%q\n' "$cmd" "$dir/$n.out" "$dir/$n.err" "$dir/$n.rc"
		if [ -n "$pat" ] && [[ $cmd == *$pat* ]]; then
			printf '%s >/dev/null 2>&1\n' "$hook"
		fi
	done < <(sed -n "s/^$part\t//p" cmds.tsv)
}

# all_ok DIR: every command of DIR exited 0 (the failing ones are shown).
all_ok() {
	local rc f bad=0
	for rc in "$1"/*.rc; do
		f=${rc%.rc}
		if [ "$(cat "$rc")" != 0 ]; then
			printf 'exit %s: %s\n--- stdout:\n%s\n--- stderr:\n%s\n' "$(cat "$rc")" "$(cat "$f.cmd")" \
				"$(cat "$f.out")" "$(cat "$f.err")" >&2
			bad=1
		fi
	done
	return $bad
}

# which DIR TEXT: the number of the (first) command of DIR containing TEXT.
which_cmd() {
	grep -lF -- "$2" "$1"/*.cmd | head -1 | sed 's|.*/||; s|\.cmd$||'
}

# The bank's part (with a second run of the pipeline right after the
# anchor checkpoint is made), then the hand-over: the export, the seal
# public key (as handed over at init), the anchor kept off the host, and the examiner's copy of
# results.csv; then the laptop's part, in a directory holding only those.
at_the_bank() {
	mkscript host "$PWD/host-out" "audit checkpoint" \
		"airlock -q run --unsigned $PWD/p --date $LATER" >host-out.sh
	(cd bank && bash ../host-out.sh)
}
handover() {
	cp bank/evidence.tar.zst bank/anchor/checkpoint.txt bank/anchor/checkpoint.txt.minisig \
		bank/anchor/checkpoint.txt.sig \
		bank/results.csv seal.pub laptop/
}
on_the_laptop() {
	mkscript laptop "$PWD/laptop-out" >laptop-out.sh
	(cd laptop && env -u AIRLOCK_HOME HOME="$BATS_TEST_TMPDIR/laptop-home" \
		XDG_STATE_HOME="$BATS_TEST_TMPDIR/laptop-home" bash ../laptop-out.sh)
}

@test 'the walkthrough runs as written and finds the run that produced results.csv' {
	at_the_bank
	all_ok host-out
	# the anchor was made before the second run, the export after it
	[ -f bank/anchor/checkpoint.txt ] && [ -f bank/evidence.tar.zst ]
	RUN_B=$(audit_events '.event=="run.start"' | jq -r .run | tail -1)
	[ -n "$RUN_B" ] && [ "$RUN_B" != "$RUN_A" ]
	anchor_size=$(sed -n 2p bank/anchor/checkpoint.txt)
	first_b=$(audit_events ".event==\"run.start\" and .run==\"$RUN_B\"" | jq .seq)
	[ "$anchor_size" -lt "$first_b" ]
	# on the host: by SHA-256, exactly run A; by path, both runs
	n=$(which_cmd host-out 'query --sha256')
	grep -q "run=$RUN_A" "host-out/$n.out"
	run -1 grep -q "run=$RUN_B" "host-out/$n.out"
	n=$(which_cmd host-out 'query --path')
	grep -q "run=$RUN_A" "host-out/$n.out"
	grep -q "run=$RUN_B" "host-out/$n.out"
	# and those reads were audited
	[ "$(count_events '.event=="audit.accessed" and .command=="query"')" -ge 2 ]

	handover
	on_the_laptop
	all_ok laptop-out
	L=laptop-out
	# airlock-verify: intact, with the seal public key and the anchor
	n=$(which_cmd $L 'airlock-verify audit evidence.tar.zst')
	grep -q "^intact: " "$L/$n.out"
	grep -q "signatures checked with the key given" "$L/$n.out"
	grep -q "anchored off-host up to #$anchor_size" "$L/$n.out"
	grep -q "anchor holds" "$L/$n.out"
	# standard tools: both signatures, the chain, the seals, the anchor
	[ "$(grep -l 'Signature and comment signature verified' $L/*.out | wc -l)" = 2 ]
	grep -qx "chain intact" $L/*.out
	n=$(which_cmd $L 'seals verified')
	grep -qE '^([1-9][0-9]*) of \1 seals verified$' "$L/$n.out"
	grep -qx "log.open names the key handed over" $L/*.out
	# the export's checkpoint, signed by the seal key in force (openssl)
	n=$(which_cmd $L 'checkpoint.txt.sig')
	grep -qx "Signature Verified Successfully" "$L/$n.out"
	grep -q "^anchor holds: entry $anchor_size unchanged" $L/*.out
	# the answers, with jq alone and with airlock-verify on the export: run A
	n=$(which_cmd $L "jq -r --arg h")
	[ "$(cut -f3 "$L/$n.out")" = "$RUN_A" ]
	n=$(which_cmd $L 'airlock-verify sql')
	[ "$(tail -n +2 "$L/$n.out" | cut -f1 | sort -u)" = "$RUN_A" ]
	grep -q "	$DATE	ok	report	results.csv	" "$L/$n.out"
	n=$(which_cmd $L 'airlock-verify query')
	grep -q "output.committed run=$RUN_A" "$L/$n.out"
	n=$(which_cmd $L '"$R"')
	grep -q '"event":"run.start"' "$L/$n.out"
	grep -q "\"run\":\"$RUN_A\"" "$L/$n.out"
	run -1 grep -q "$RUN_B" "$L/$n.out"
	# what the laptop was given was used, nothing of the host
	[ "$(sha256sum <laptop/results.csv | cut -c1-64)" = "$H" ]
}

@test 'a byte flipped in the exported segment fails airlock-verify and the chain check' {
	at_the_bank
	all_ok host-out
	handover
	# one hex digit of results.csv's hash in run A's output.committed entry
	mkdir x && tar --zstd -xf laptop/evidence.tar.zst -C x
	seg=x/audit-000001.jsonl
	line=$(grep -n '"event":"output.committed"' "$seg" | head -1 | cut -d: -f1)
	off=$(( $(offset_of_line "$seg" "$line") + $(sed -n "${line}p" "$seg" | grep -bo "$H" | head -1 | cut -d: -f1) + 10 ))
	cp "$seg" before
	helper flipbyte "$seg" "$off"
	run -1 cmp -s before "$seg"
	(cd x && tar --zstd --format=pax -cf ../laptop/evidence.tar.zst VERIFY.txt FORMAT.md host.pub checkpoint.txt \
		checkpoint.txt.minisig checkpoint.txt.sig export.txt export.txt.sig audit-*)
	on_the_laptop
	L=laptop-out
	n=$(which_cmd $L 'airlock-verify audit evidence.tar.zst')
	[ "$(cat "$L/$n.rc")" = 1 ]
	grep -q "FAILED" "$L/$n.out" "$L/$n.err"
	grep -q "line $((line + 1)) " "$L/$n.out" "$L/$n.err"
	n=$(which_cmd $L 'chain intact')
	[ "$(cat "$L/$n.rc")" != 0 ]
	run -1 grep -qx "chain intact" $L/*.out
}
