#!/usr/bin/env bats
# t2000-audit-init: creating the log, the host key and the epoch-0 seal
# key pair, whose public half is handed over.

load ../lib/common

@test 'audit init creates the log, the host key and the seal public key' {
	export AIRLOCK_HOME=$PWD/home
	run -0 airlock audit init --seal-pub-out seal.pub
	out_has "audit log created in $PWD/home/audit" "Give it to the compliance officer" "It is public"
	[ "$(stat -c %a home)" = 700 ]
	[ "$(stat -c %a home/audit)" = 700 ]
	[ "$(stat -c %a home/host.key)" = 600 ]
	[ "$(stat -c %a home/audit/fss.key)" = 600 ]
	[ "$(stat -c %a seal.pub)" = 644 ]
	grep -qxE 'airlock.seal-pub/2 [0-9a-f]{64}' seal.pub
	# printed with its id, for the officer to write down
	pub=$(cut -d' ' -f2 seal.pub)
	out_has "seal public key: $pub (id "
	# the first entries: log.open (naming that key) and a seal of epoch 0
	run -0 jq -r '.event' home/audit/audit-000001.jsonl
	[ "$output" = "$(printf 'log.open\nseal')" ]
	run -0 jq -r 'select(.event == "log.open") | .host_key' home/audit/audit-000001.jsonl
	grep -q "minisign public key $output" home/host.pub
	run -0 jq -r 'select(.event == "log.open") | "\(.format) \(.seal_pub) \(.seal_every)"' home/audit/audit-000001.jsonl
	[ "$output" = "airlock.audit/2 $pub 1000" ]
	run -0 airlock audit verify --seal-pub seal.pub --strict
	out_has "intact" "signatures checked with the key given" "sealed up to #1"
	# --json says the same
	run -0 airlock --json --home "$PWD/h2" audit init --seal-pub-out x.pub
	printf '%s\n' "$output" | jq -e '.seal_pub == "'"$(cut -d' ' -f2 x.pub)"'" and (.seal_pub_id | test("^[0-9A-F]{16}$"))'
}

@test 'nothing secret is handed over: the stored seed evolved with the first seal' {
	mkhome
	fss_record | grep -q "^airlock.fss/2 1 "
	# the file handed over holds the public key and nothing else
	[ "$(wc -c <seal.pub)" = $((19 + 64 + 1)) ]
}

@test 'k0 (airlock.audit/1) is no longer made' {
	export AIRLOCK_HOME=$PWD/home
	run -2 airlock audit init --seal-key-out k0.txt
	out_has "use --seal-pub-out FILE"
	[ ! -e k0.txt ] && [ ! -e home/audit ]
}

@test 'audit init refuses an existing log, and an existing key file' {
	mkhome
	run -2 airlock audit init --seal-pub-out other.txt
	out_has "an audit log exists already"
	[ ! -e other.txt ]
	rm -rf home
	echo keep >key-exists.txt
	run -2 airlock audit init --seal-pub-out key-exists.txt
	out_has "key-exists.txt already exists: the seal key is written once"
	[ "$(cat key-exists.txt)" = keep ]
	[ ! -e home/audit/audit-000001.jsonl ]
}

@test 'audit init needs --seal-pub-out and checks its options' {
	export AIRLOCK_HOME=$PWD/home
	run -2 airlock audit init
	out_has "--seal-pub-out FILE is needed"
	run -2 airlock audit init --seal-pub-out k --segment-size 10
	out_has "--segment-size 10: a size of at least 4096"
	run -2 airlock audit init --seal-pub-out k --seal-every x
	out_has "--seal-every x"
	run -2 airlock audit init --seal-pub-out k --seal-every 0
	out_has "--seal-every 0: a positive number"
	# a size whose bytes overflow 64 bits is refused, not wrapped to a small one
	run -2 airlock audit init --seal-pub-out k --segment-size 17179869185G
	out_has "--segment-size 17179869185G: a size"
	run -2 airlock audit init --seal-pub-out k --audit-min-free 0
	out_has "--audit-min-free 0: a size"
	[ ! -e k ]
}

@test 'audit init keeps an existing host key' {
	export AIRLOCK_HOME=$PWD/home
	mkdir -p home
	airlock -q keygen -W -p home/host.pub -s home/host.key
	cp home/host.pub before.pub
	run -0 airlock -q audit init --seal-pub-out seal.pub
	cmp home/host.pub before.pub
}

@test 'a full disk during init leaves nothing half made' {
	export AIRLOCK_HOME=$PWD/home
	for n in 1 2 3 4 5 6 7 8; do
		AIRLOCK_FAULTS="write@$n=ENOSPC" run airlock audit init --seal-pub-out seal.pub
		if [ "$status" -eq 0 ]; then
			break
		fi
		[ "$status" -eq 4 ]
		out_has "No space left on device"
		[ ! -e seal.pub ]
		[ ! -e home/audit/audit-000001.jsonl ]
	done
	[ "$status" -eq 0 ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'without --home, an unprivileged user gets XDG_STATE_HOME/airlock or ~/.local/state/airlock' {
	user=$(mktemp -d /tmp/airlock-user.XXXXXX)
	chmod 777 "$user"
	run -0 setpriv --reuid=65534 --regid=65534 --clear-groups env -u AIRLOCK_HOME HOME="$user" \
		XDG_STATE_HOME="$user/state" airlock -q audit init --seal-pub-out "$user/seal.pub"
	[ -f "$user/state/airlock/audit/audit-000001.jsonl" ]
	[ "$(stat -c %u "$user/state/airlock/audit/audit-000001.jsonl")" = 65534 ]
	run -0 setpriv --reuid=65534 --regid=65534 --clear-groups env -u AIRLOCK_HOME -u XDG_STATE_HOME \
		HOME="$user" airlock -q audit init --seal-pub-out "$user/k1.txt"
	[ -f "$user/.local/state/airlock/audit/audit-000001.jsonl" ]
	run -2 setpriv --reuid=65534 --regid=65534 --clear-groups env -u AIRLOCK_HOME -u XDG_STATE_HOME \
		-u HOME airlock audit tail
	out_has "no airlock home: give --home DIR or set AIRLOCK_HOME"
	rm -rf "$user"
}

@test 'a user who may not write the home gets exit 4, not a half-made log' {
	mkdir locked
	chmod 755 locked
	run -4 setpriv --reuid=65534 --regid=65534 --clear-groups airlock --home "$PWD/locked/home" \
		audit init --seal-pub-out /tmp/never-$$.txt
	out_has "Permission denied"
	[ ! -e "/tmp/never-$$.txt" ]
}

@test 'a checkpoint is recorded in the log, with what it covers' {
	mkhome
	run -0 airlock --json audit checkpoint -o cp
	size=$(printf '%s' "$output" | jq -r .size)
	run -0 jq -c 'select(.event == "checkpoint") | [.size, .head, .file]' home/audit/audit-000001.jsonl
	[ "$output" = "[$size,\"$(sed -n 3p cp/checkpoint.txt)\",\"cp/checkpoint.txt\"]" ]
}
