#!/usr/bin/env bats
# t2105-audit-verify-v1: logs that hosts wrote before airlock.audit/2
# (HMAC seals, k0) still verify with k0, keep being sealed the same way by
# this writer until `airlock audit upgrade` moves them to public-key seals
# with a transition seal, and are never taken as checked by a public key
# that no seal names.

load ../lib/common

setup() {
	common_setup
	export AIRLOCK_HOME=$PWD/home
	helper forge init1 "$AIRLOCK_HOME" k0.txt 50
	helper mklog "$AIRLOCK_HOME" 300 >/dev/null
	airlock -q audit seal
	log=$(seg 1)
}

first_error_line() {
	printf '%s\n' "$output" | sed -n 's/^error: line \([0-9][0-9]*\).*/\1/p' | head -1
}

@test 'a /1 log verifies with k0, and this writer keeps sealing it with HMAC' {
	run -0 airlock-verify audit home/audit --seal-key k0.txt --strict
	out_has "intact" "macs checked"
	fss_record | grep -q "^airlock.fss/1 "
	# every seal the writer added is an HMAC one
	run -0 jq -s '[.[] | select(.event == "seal") | select(.mac == null)] | length' "$log"
	[ "$output" = 0 ]
	# a checkpoint of it says so on its first line
	airlock -q audit checkpoint -o cp
	grep -q '^airlock.audit/1 ' cp/checkpoint.txt
	[ ! -e cp/checkpoint.txt.sig ]
	run -0 airlock-verify audit home/audit --seal-key k0.txt --anchor cp/checkpoint.txt
	out_has "anchor holds"
}

@test 'a rewritten /1 entry re-chained is caught by its mac' {
	sed -i '100s/"event":"/"event":"x/' "$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit --seal-key k0.txt
	out_has "seal mac is wrong"
	# re-sealed with the current key, as epoch 0: the macs are wrong
	fss_record | cut -d' ' -f3 >current.key
	helper forge reseal home/audit current.key 0
	run -1 airlock-verify audit home/audit --seal-key k0.txt
	out_has "seal mac is wrong for epoch 0"
}

@test 'a public key cannot check HMAC seals, and says so' {
	AIRLOCK_HOME=$PWD/other airlock -q audit init --seal-pub-out other.pub 2>/dev/null
	run -1 airlock-verify audit home/audit --seal-pub other.pub
	out_has "airlock.audit/1 HMAC seals" "--seal-key" "no transition seal names it"
}

@test 'a signed seal in a /1 log that announced no key is refused (a spliced log)' {
	AIRLOCK_HOME=$PWD/other airlock -q audit init --seal-pub-out other.pub 2>/dev/null
	e=$(grep -c '"event":"seal"' "$log")
	grep '"event":"seal"' other/audit/audit-000001.jsonl | head -1 | jq -c --argjson e "$e" '.epoch = $e' >>"$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit
	out_has "a signed seal after airlock.audit/1 ones"
}

@test 'audit upgrade: a transition seal binds the first public key; later seals are signed' {
	run -0 airlock audit upgrade --seal-pub-out seal.pub
	out_has "seal public key: $(cut -d' ' -f2 seal.pub) (id "
	fss_record | grep -q '^airlock.fss/2 '
	[ ! -e home/audit/fss.next ]
	# the transition seal: HMAC (mac) and the key (next_pub)
	run -0 jq -c 'select(.event == "seal" and .next_pub != null and .mac != null) | [.mac != null, .sig == null, .next_pub]' "$log"
	[ "$output" = "[true,true,\"$(cut -d' ' -f2 seal.pub)\"]" ]
	helper mklog "$AIRLOCK_HOME" 100 >/dev/null
	airlock -q audit seal
	# with the public key alone: signed seals checked from the transition on
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
	t=$(jq -r 'select(.event == "seal" and .next_pub != null and .mac != null) | .seq' "$log")
	out_has "signatures checked with the key given" "the HMAC seals before #$t not checked: no --seal-key"
	# with k0: everything, the transition's mac included
	run -0 airlock-verify audit home/audit --seal-key k0.txt --strict
	out_lacks "not checked"
	run -0 airlock-verify audit home/audit --seal-key k0.txt --seal-pub seal.pub --strict
	# a second upgrade is refused, and the key file is not taken
	run -2 airlock audit upgrade --seal-pub-out again.pub
	out_has "sealed with public keys already"
	[ ! -e again.pub ]
	# an export of it verifies against the key, standalone
	airlock -q audit export -o e.tar.zst
	run -0 airlock-verify audit e.tar.zst --seal-pub seal.pub
}

@test 'after the transition, a rewritten signed span fails; a forged transition to another key fails' {
	airlock -q audit upgrade --seal-pub-out seal.pub
	helper mklog "$AIRLOCK_HOME" 100 >/dev/null
	airlock -q audit seal
	n=$(wc -l <"$log")
	sed -i "$((n - 20))s/\"event\":\"/\"event\":\"x/" "$log"
	helper forge rechain home/audit
	run -1 airlock-verify audit home/audit --seal-pub seal.pub
	out_has "seal signature does not verify"
	# a key that no transition seal names
	AIRLOCK_HOME=$PWD/other airlock -q audit init --seal-pub-out other.pub 2>/dev/null
	run -1 airlock-verify audit home/audit --seal-pub other.pub
	out_has "the transition seal names seal key"
}

@test 'a crash between the transition seal and the key: the next opener installs the key' {
	AIRLOCK_TORTURE_KILL_AT=seal-transition:1 run airlock audit upgrade --seal-pub-out seal.pub
	[ "$status" -ne 0 ]
	[ -e home/audit/fss.next ]
	fss_record | grep -q '^airlock.fss/1 '
	# the next writer moves the key in, and seals with it
	airlock -q audit append --event operator.note --field a=b
	airlock -q audit seal
	[ ! -e home/audit/fss.next ]
	fss_record | grep -q '^airlock.fss/2 '
	run -0 airlock-verify audit home/audit --seal-pub seal.pub --strict
	run -0 airlock-verify audit home/audit --seal-key k0.txt --strict
}

@test 'a crash before the transition seal: the old key goes on, the new one is dropped' {
	# a write of the upgrade fails after log.resume (the new key's file or
	# the transition seal): nothing of it is left
	AIRLOCK_FAULTS='write@3=EIO' run airlock audit upgrade --seal-pub-out seal.pub
	[ "$status" -eq 4 ]
	[ ! -e seal.pub ]
	[ ! -e home/audit/fss.next ]
	fss_record | grep -q '^airlock.fss/1 '
	run -0 airlock-verify audit home/audit --seal-key k0.txt
}

# chain_lines: reads JSON objects (one a line, without seq and prev) and
# writes them as a chained log: seq from 1, prev the SHA-256 of the line
# before (what anyone can compute).
chain_lines() {
	python3 -c '
import hashlib, json, sys
prev = "0" * 64
for i, line in enumerate(sys.stdin, 1):
    o = json.loads(line)
    e = {"seq": i, "ts": "2026-12-01T00:00:%02d.000000Z" % i, "prev": prev}
    e.update(o)
    if e.get("event") == "seal":
        e["upto"] = i - 1
    text = json.dumps(e, separators=(",", ":")) + "\n"
    sys.stdout.write(text)
    prev = hashlib.sha256(text.encode()).hexdigest()
'
}

@test 'a log made up from nothing, with a transition seal naming the real key, does not verify' {
	AIRLOCK_HOME=$PWD/real airlock -q audit init --seal-pub-out seal.pub 2>/dev/null
	pub=$(cut -d' ' -f2 seal.pub)
	mkdir fake
	{
		echo '{"event":"log.open","log_id":"0123456789abcdef0123456789abcdef","host_key":"0000000000000000","airlock":"0.1.0","fss_epoch":0}'
		echo '{"event":"run.start","run":"made-up"}'
		echo '{"event":"run.end","run":"made-up","status":"ok"}'
		echo '{"event":"seal","epoch":0,"upto":0,"every":1000000,"next_pub":"'"$pub"'","mac":"'"$(printf '%064d' 0)"'"}'
	} | chain_lines >fake/audit-000001.jsonl
	run -1 airlock-verify audit fake --seal-pub seal.pub --strict
	out_has "the public key given checks no seal of this log"
	# nor with a signed seal after it made with a key of the forger's own
	run -1 airlock-verify audit fake --seal-pub seal.pub
}

@test 'a transition seal in a log signed from its start is refused' {
	AIRLOCK_HOME=$PWD/v2 airlock -q audit init --seal-pub-out v2.pub 2>/dev/null
	l=v2/audit/audit-000001.jsonl
	pub=$(cut -d' ' -f2 v2.pub)
	e=$(grep -c '"event":"seal"' "$l")
	echo '{"seq":0,"ts":"2026-12-01T00:00:00.000000Z","prev":"x","event":"seal","epoch":'"$e"',"upto":0,"every":5,"next_pub":"'"$pub"'","mac":"'"$(printf '%064d' 0)"'"}' >>"$l"
	helper forge rechain v2/audit
	run -1 airlock-verify audit v2/audit --seal-pub v2.pub
	out_has "an airlock.audit/1 seal after a signed one"
}

@test 'an export of an upgraded log that starts after the transition verifies against the key' {
	rm -rf home k0.txt
	helper forge init1 "$AIRLOCK_HOME" k0.txt 20
	airlock -q audit init --seal-pub-out never.pub 2>/dev/null || true
	# small segments, so that a run's export starts later
	jq '.segment_size = 8192' home/audit/config.json >c && mv c home/audit/config.json
	helper mklog "$AIRLOCK_HOME" 100 >/dev/null
	airlock -q audit upgrade --seal-pub-out seal.pub
	helper mklog "$AIRLOCK_HOME" 100 --tag late >/dev/null
	airlock -q audit export -o e.tar.zst --run run-late-1
	tar --zstd -tf e.tar.zst | grep -q seals.jsonl
	run -0 airlock-verify audit e.tar.zst --seal-pub seal.pub
	out_has "intact"
	run -0 airlock-verify audit e.tar.zst --seal-key k0.txt
}
