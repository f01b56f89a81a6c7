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
	airlock -q keys remove "$O2"
	run -3 airlock verify b.tar.zst
	out_has "$O2: not in the trust policy"
	airlock -q keys add o2.pub --name 'officer two' --expires 2020-01-01T00:00:00Z
	run -3 airlock verify b.tar.zst
	out_has "$O2: the key has expired in the trust policy"
	run -0 jq -r '.event' home/audit/audit-000001.jsonl
	out_has keys.added keys.removed
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

@test 'the threshold is the policy: 1 of 1 after keys threshold 1' {
	airlock -q sign b.tar.zst -s o1.key
	run -0 airlock keys threshold 1
	run -0 airlock verify b.tar.zst
	out_has "1 of 1 required"
	run -2 airlock keys threshold 0
	run -0 jq -r 'select(.event == "keys.threshold") | .threshold' home/audit/audit-000001.jsonl
	[ "$output" = 1 ]
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
