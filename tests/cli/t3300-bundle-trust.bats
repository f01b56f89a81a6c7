#!/usr/bin/env bats
# t3300-bundle-trust: the trust policy over a bundle's manifest: M of N
# distinct, unexpired keys of the policy; everything else reported and
# never counted. Stock minisign signatures count like airlock's.

# shellcheck disable=SC2046 # $(members) and $(sigs) are lists of member names

load ../lib/common
load ../fixtures/bundle

setup() {
	common_setup
	mkhome
	officers
	mkpipe pipe
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack pipe -o b.tar.zst
}

@test 'no signature: refused' {
	run -3 airlock verify b.tar.zst
	out_has "manifest.json: 0 of 2 required signatures by keys of the trust policy"
}

@test 'one of two required: refused; both: verified' {
	airlock -q sign b.tar.zst -s o1.key
	run -3 airlock verify b.tar.zst
	out_has "1 of 2 required signatures"
	airlock -q sign b.tar.zst -s o2.key
	run -0 airlock verify b.tar.zst
	out_has "signed by: " "$O1" "$O2" "(2 of 2 required)"
	run -0 airlock --json verify b.tar.zst
	[ "$(printf '%s' "$output" | jq -r '.signers | length')" = 2 ]
}

@test 'the same key twice counts once: re-signing replaces' {
	airlock -q sign b.tar.zst -s o1.key
	airlock -q sign b.tar.zst -s o1.key -t 'again'
	run -0 tar --zstd -tf b.tar.zst
	[ "$(printf '%s\n' "$output" | grep -c '^signatures/')" = 1 ]
	run -3 airlock verify b.tar.zst
	out_has "1 of 2 required"
	# and two members for one key are a malformed bundle
	stage b.tar.zst
	cp "stage/signatures/$O1.minisig" "stage/signatures/$O1.minisig.bak"
	retar twice.tar.zst --hard-dereference -- manifest.json "signatures/$O1.minisig" "signatures/$O1.minisig" bin/count bin/hello data/input.csv
	run -3 airlock verify twice.tar.zst
	out_has "a duplicate member: one signature per key"
}

@test 'an unknown key is reported and not counted' {
	airlock -q keygen -W -p stranger.pub -s stranger.key
	id=$(sed -n 's/^untrusted comment: minisign public key //p' stranger.pub)
	airlock -q sign b.tar.zst -s o1.key
	airlock -q sign b.tar.zst -s stranger.key
	run -3 airlock verify b.tar.zst
	out_has "1 of 2 required" "$id: not in the trust policy"
	airlock -q sign b.tar.zst -s o2.key
	run -0 airlock verify b.tar.zst
	out_has "not counted: $id: not in the trust policy"
}

@test 'a valid signature over a different manifest is not counted' {
	mkpipe other 7
	SOURCE_DATE_EPOCH=1764000000 airlock -q pack other -o other.tar.zst
	airlock -q sign other.tar.zst -s o2.key
	stage other.tar.zst
	o2sig=$PWD/stage/signatures/$O2.minisig
	cp "$o2sig" o2-other.minisig
	airlock -q sign b.tar.zst -s o1.key
	airlock -q sign b.tar.zst --add o2-other.minisig
	run -3 airlock verify b.tar.zst
	out_has "1 of 2 required" "$O2: the signature does not verify over this manifest"
}

@test 'a removed (revoked) key and an expired key are not counted' {
	airlock -q sign b.tar.zst -s o1.key
	airlock -q sign b.tar.zst -s o2.key
	run -0 airlock verify b.tar.zst
	mkkey o3
	policy_change o1 o2 -- add o3.pub --name 'officer three'
	policy_change o1 o3 -- remove "$O2"
	run -3 airlock verify b.tar.zst
	out_has "$O2: not in the trust policy"
	policy_change o1 o3 -- add o2.pub --name 'officer two' --expires 2020-01-01T00:00:00Z
	run -3 airlock verify b.tar.zst
	out_has "$O2: the key has expired in the trust policy"
	run -0 jq -r '.event' home/audit/audit-000001.jsonl
	out_has keys.added keys.changed
}

@test 'legacy (Ed) and prehashed (ED) signatures by stock minisign are accepted' {
	airlock manifest b.tar.zst >manifest.json
	minisign -S -l -s o1.key -m manifest.json -x legacy.minisig -t 'legacy' >/dev/null
	minisign -S -s o2.key -m manifest.json -x hashed.minisig -t 'prehashed' >/dev/null
	airlock -q sign b.tar.zst --add legacy.minisig
	airlock -q sign b.tar.zst --add hashed.minisig
	run -0 airlock verify b.tar.zst
	out_has "2 of 2 required"
	# and stock minisign verifies what airlock signed
	airlock -q sign b.tar.zst -s o1.key
	stage b.tar.zst
	run -0 minisign -Vm stage/manifest.json -x "stage/signatures/$O1.minisig" -p o1.pub
	out_has "Trusted comment: airlock bundle demo version 1 manifest"
}

@test 'airlock manifest prints the exact bytes that were signed' {
	airlock manifest b.tar.zst >m1.json
	stage b.tar.zst
	cmp m1.json stage/manifest.json
	[ "$(tail -c1 m1.json | od -An -c | tr -d ' ')" = '\n' ]
}

@test 'the threshold is the policy: 1 of 1 after a signed change to threshold 1' {
	airlock -q sign b.tar.zst -s o1.key
	policy_change o1 o2 -- threshold 1
	run -0 airlock verify b.tar.zst
	out_has "1 of 1 required"
	run -2 airlock keys threshold 0
	run -0 jq -r 'select(.event == "keys.changed") | .threshold' home/audit/audit-000001.jsonl
	[ "$output" = 1 ]
}

@test 'separation of duties: one account cannot add its own key, lower the threshold or drop a key' {
	mkkey mallory
	cp -a home/keys before
	run -3 airlock keys add mallory.pub --name me
	out_has "is in force (2 keys, threshold 2)" "keys apply"
	run -3 airlock keys threshold 1
	run -3 airlock keys remove "$O1"
	diff -r before home/keys
	[ "$(jq -c 'select(.event == "keys.refused") | .change' home/audit/audit-000001.jsonl | wc -l)" = 3 ]
	# and a bundle signed by mallory alone stays untrusted
	airlock -q sign b.tar.zst -s mallory.key
	run -3 airlock install b.tar.zst
	# while the policy was open (fewer keys than its threshold), changes were audited as such
	jq -s -e '[.[] | select(.event == "keys.added") | .bootstrap] == [true, true]' home/audit/audit-000001.jsonl
}

@test 'a change signed by fewer than the threshold is refused and audited; by the threshold, applied' {
	mkkey mallory
	run -0 airlock keys add mallory.pub --name 'officer three' -o c.json
	out_has "needs 2 signatures"
	jq -e '.format == "airlock.policy-change/1" and (.pubkeys | length) == 1 and .policy.threshold == 2' c.json
	airlock -q sign-file -s o1.key -x c.o1.minisig c.json
	run -3 airlock keys apply c.json --sig c.o1.minisig
	out_has "1 valid signature by keys of the policy in force, 2 needed: not applied"
	jq -s -e --arg o1 "$O1" '[.[] | select(.event == "keys.refused")] | .[0].signers == [$o1] and .[0].needed == 2' home/audit/audit-000001.jsonl
	[ ! -e "home/keys/$(airlock --json keygen -W -p x.pub -s x.key | jq -r .keyid).pub" ]
	airlock -q sign-file -s o2.key -x c.o2.minisig c.json
	run -0 airlock keys apply c.json --sig c.o1.minisig --sig c.o2.minisig
	out_has "trust policy changed: add key"
	jq -s -e --arg o1 "$O1" --arg o2 "$O2" '[.[] | select(.event == "keys.changed")] | .[0] |
	  (.signers | sort) == ([$o1, $o2] | sort) and (.keys | length) == 3 and (.previous_sha256 | length) == 64 and .bootstrap == false' \
		home/audit/audit-000001.jsonl
	[ "$(sha256sum home/keys/policy.json | cut -d' ' -f1)" = "$(jq -r 'select(.event == "keys.changed") | .policy_sha256' home/audit/audit-000001.jsonl)" ]
	run -0 airlock keys list
	out_has "officer three"
}

@test 'a new key signing its own admission, a key twice, a stranger and an expired key do not count' {
	mkkey mallory
	airlock -q keys add mallory.pub -o c.json
	airlock -q sign-file -s o1.key -x a.minisig c.json
	airlock -q sign-file -s o1.key -x b.minisig c.json
	airlock -q sign-file -s mallory.key -x m.minisig c.json
	run -3 airlock keys apply c.json --sig a.minisig --sig b.minisig --sig m.minisig
	out_has "signed already: counted once" "is not in the trust policy in force: not counted" "1 valid signature"
	# an expired officer's signature does not count either
	policy_change o1 o2 -- add o2.pub --name 'officer two' --expires 2020-01-01T00:00:00Z
	airlock -q keys add mallory.pub -o c2.json
	airlock -q sign-file -s o1.key -x c2.o1.minisig c2.json
	airlock -q sign-file -s o2.key -x c2.o2.minisig c2.json
	run -3 airlock keys apply c2.json --sig c2.o1.minisig --sig c2.o2.minisig
	out_has "expired: not counted"
}

@test 'a tampered, replayed or stale request is refused; one that would lock everything out is malformed' {
	airlock -q keys threshold 1 -o t1.json
	mkkey o3
	airlock -q keys add o3.pub -o stale.json
	for k in o1 o2; do
		airlock -q sign-file -s $k.key -x "t1.$k.minisig" t1.json
		airlock -q sign-file -s $k.key -x "stale.$k.minisig" stale.json
	done
	# one byte of the signed request changed: no signature verifies
	sed 's/"threshold": 1/"threshold": 2/' t1.json >tampered.json
	cp t1.o1.minisig tampered.o1.minisig
	cp t1.o2.minisig tampered.o2.minisig
	run -3 airlock keys apply tampered.json --sig tampered.o1.minisig --sig tampered.o2.minisig
	out_has "0 valid signatures"
	run -0 airlock keys apply t1.json --sig t1.o1.minisig --sig t1.o2.minisig
	# the same request again, and one written before it: not for the policy in force
	run -3 airlock keys apply t1.json --sig t1.o1.minisig --sig t1.o2.minisig
	out_has "written for the policy of sha256" "make the request again"
	run -3 airlock keys apply stale.json --sig stale.o1.minisig --sig stale.o2.minisig
	out_has "written for the policy of sha256"
	# a policy no set of its keys could meet
	airlock -q keys threshold 3 -o lock.json
	airlock -q sign-file -s o1.key -x lock.o1.minisig lock.json
	run -2 airlock keys apply lock.json --sig lock.o1.minisig
	out_has "could never be met"
	# a request that is not one
	echo '{"format": "airlock.policy-change/1", "extra": 1}' >bad.json
	run -2 airlock keys apply bad.json --sig lock.o1.minisig
	out_has "extra: unknown field"
	[ "$(jq -c 'select(.event == "keys.refused")' home/audit/audit-000001.jsonl | wc -l)" = 5 ]
}

@test 'airlock-verify bundle checks against a keys directory, writing nothing' {
	airlock -q sign b.tar.zst -s o1.key
	airlock -q sign b.tar.zst -s o2.key
	cp -a home/keys regulator-keys
	lines_before=$(wc -l <home/audit/audit-000001.jsonl)
	run -0 airlock-verify bundle b.tar.zst --keys regulator-keys
	out_has "verified: b.tar.zst: pipeline demo version 1"
	[ "$(wc -l <home/audit/audit-000001.jsonl)" = "$lines_before" ]
	run -2 airlock-verify bundle b.tar.zst
	out_has "--keys DIR is needed"
	run -2 airlock-verify bundle b.tar.zst --keys nowhere
	out_has "nowhere/policy.json"
}

@test 'a malformed policy is named' {
	printf '{"threshold": 2, "keyz": {}}' >home/keys/policy.json
	run -2 airlock verify b.tar.zst
	out_has "policy.json: keyz: unknown field"
	printf '{"threshold": 2, "keys": {"0123456789ABCDEF": {}}}' >home/keys/policy.json
	run -2 airlock verify b.tar.zst
	out_has "0123456789ABCDEF.pub: No such file or directory"
}

@test 'one public key under a second key id does not make two signers' {
	# o1's key with another id: a key id is a label the signer chooses
	python3 - o1.pub o1-again.pub <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
raw = bytearray(base64.b64decode(lines[1]))
raw[2:10] = bytes(b ^ 0x5a for b in raw[2:10])
open(sys.argv[2], 'w').write('untrusted comment: the same key\n' + base64.b64encode(bytes(raw)).decode() + '\n')
PY
	airlock -q keys add o1-again.pub --name 'officer one again' -o c.json
	airlock -q sign-file -s o1.key -x c.o1.minisig c.json
	airlock -q sign-file -s o2.key -x c.o2.minisig c.json
	run -2 airlock keys apply c.json --sig c.o1.minisig --sig c.o2.minisig
	out_has "the same public key as another key of the policy"
	run -0 airlock keys list
	out_lacks "officer one again"
}

@test 'a request replayed after the policy came back to the same threshold is refused' {
	airlock -q keys threshold 1 -o down.json
	airlock -q sign-file -s o1.key -x down.o1.minisig down.json
	airlock -q sign-file -s o2.key -x down.o2.minisig down.json
	airlock -q keys apply down.json --sig down.o1.minisig --sig down.o2.minisig
	policy_change o1 -- threshold 2
	jq -e '.threshold == 2 and .version == 4' home/keys/policy.json
	run -3 airlock keys apply down.json --sig down.o1.minisig --sig down.o2.minisig
	out_has "make the request again"
	jq -e '.threshold == 2' home/keys/policy.json
}
