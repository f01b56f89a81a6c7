#!/usr/bin/env bats
# t3400-bundle-install: install swaps pipelines/<name> atomically;
# rollback, freeze and mix-and-match are refused; every outcome audited.

# shellcheck disable=SC2046 # $(members) and $(sigs) are lists of member names

load ../lib/common
load ../fixtures/bundle

setup() {
	common_setup
	mkhome
	officers
}

# bundle_v VERSION [EXPIRES]: a signed bundle bN.tar.zst of version N.
bundle_v() {
	rm -rf "p$1"
	mkpipe "p$1" "$1" "${2:-2030-01-01T00:00:00Z}"
	signed "p$1" "b$1.tar.zst"
}

installed_version() {
	jq -r .version home/pipelines/demo/manifest.json
}

@test 'install extracts read-only, links the pipeline, and audits it' {
	bundle_v 42
	run -0 airlock install b42.tar.zst
	out_has "installed demo version 42"
	[ -L home/pipelines/demo ]
	target=$(readlink home/pipelines/demo)
	[[ $target =~ ^\.\./bundles/[0-9a-f]{64}$ ]]
	sha=${target#../bundles/}
	[ "$(sha256sum <home/pipelines/demo/manifest.json | cut -c1-64)" = "$sha" ]
	# read-only for everyone: a confined step runs as another uid and sees
	# the bundle through its view; the home (0700) keeps other users out
	[ "$(stat -c %a home/pipelines/demo/bin/hello)" = 555 ]
	[ "$(stat -c %a home/pipelines/demo/data/input.csv)" = 444 ]
	[ "$(stat -c %a home/bundles/$sha)" = 555 ]
	[ "$(stat -c %a home/bundles/$sha/data)" = 555 ]
	[ "$(stat -c %a home)" = 700 ]
	cmp home/pipelines/demo/data/input.csv p42/data/input.csv
	# the audit says what, who signed, and that it was installed
	run -0 jq -c 'select(.event == "bundle.verified" or .event == "pipeline.installed") | [.event, .pipeline, .version]' home/audit/audit-000001.jsonl
	out_has '["bundle.verified","demo",42]' '["pipeline.installed","demo",42]'
	run -0 jq -r 'select(.event == "bundle.verified") | .signers | sort | join(" ")' home/audit/audit-000001.jsonl
	[ "$output" = "$(printf '%s\n' "$O1" "$O2" | sort | tr '\n' ' ' | sed 's/ $//')" ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'a run of an installed bundle names its signers on run.start, so its export says who signed it' {
	bundle_v 42
	airlock -q install b42.tar.zst
	airlock -q run demo --date 2026-11-25 2>/dev/null || true
	run -0 jq -c 'select(.event == "run.start") | .signers | sort_by(.name)' home/audit/audit-000001.jsonl
	[ "$output" = "[{\"keyid\":\"$O1\",\"name\":\"officer one\"},{\"keyid\":\"$O2\",\"name\":\"officer two\"}]" ]
	run -0 jq -r 'select(.event == "run.start") | .manifest_sha256' home/audit/audit-000001.jsonl
	[ "$output" = "$(sha256sum <home/pipelines/demo/manifest.json | cut -c1-64)" ]
	# an export of that run alone carries them, with every entry's identity
	R=$(jq -r 'select(.event == "run.start") | .run' home/audit/audit-000001.jsonl)
	airlock -q audit export -o run.tar.zst --run "$R"
	mkdir x && tar --zstd -xf run.tar.zst -C x
	run -0 jq -s --arg r "$R" '[.[] | select(.run == $r)] | length > 0 and all(.user != null and (.uid | type) == "number" and (.host | length) > 0 and (.pid | type) == "number")' x/audit-*.jsonl
	[ "$output" = true ]
	run -0 jq -r --arg r "$R" 'select(.event == "run.start" and .run == $r) | .signers | length' x/audit-*.jsonl
	[ "$output" = 2 ]
}

@test 'airlock pipelines lists version, manifest, signers and expiry' {
	bundle_v 3
	airlock -q install b3.tar.zst
	run -0 airlock pipelines
	out_has "demo" "version 3" "expires 2030-01-01" "$O1" "$O2"
	run -0 airlock --json pipelines
	[ "$(printf '%s' "$output" | jq -r '.[0].pipeline')" = demo ]
	[ "$(printf '%s' "$output" | jq -r '.[0].signers | length')" = 2 ]
	[ "$(printf '%s' "$output" | jq -r '.[0].expired')" = false ]
}

@test 'an upgrade replaces the link; the old bundle stays' {
	bundle_v 41
	bundle_v 42
	airlock -q install b41.tar.zst
	run -0 airlock install b42.tar.zst
	out_has "replacing an earlier version"
	[ "$(installed_version)" = 42 ]
	[ "$(find home/bundles -mindepth 1 -maxdepth 1 | wc -l)" = 2 ]
	run -0 jq -r 'select(.event == "pipeline.installed") | .previous_version' home/audit/audit-000001.jsonl
	[ "$(printf '%s\n' "$output" | tail -1)" = 41 ]
}

@test 'a rollback (41 after 42) is refused, or audited with --allow-downgrade' {
	bundle_v 41
	bundle_v 42
	airlock -q install b42.tar.zst
	run -3 airlock install b41.tar.zst
	out_has "version 41 is older than the installed version 42 (a rollback)"
	[ "$(installed_version)" = 42 ]
	[ -z "$(find home/bundles -maxdepth 1 -name '.tmp-*')" ]
	run -0 airlock install --allow-downgrade b41.tar.zst
	[ "$(installed_version)" = 41 ]
	run -0 jq -r 'select(.event == "pipeline.installed" and .allow_downgrade == true) | .version' home/audit/audit-000001.jsonl
	[ "$output" = 41 ]
}

@test 'freeze: an expired bundle is refused at install; verify warns' {
	bundle_v 5 2020-01-01T00:00:00Z
	run -3 airlock install b5.tar.zst
	out_has "expired on 2020-01-01T00:00:00"
	[ ! -e home/pipelines/demo ]
	run -0 airlock verify b5.tar.zst
	out_has "warning: expired on 2020-01-01"
	run -0 jq -r 'select(.event == "bundle.rejected") | .reason' home/audit/audit-000001.jsonl
	out_has "expired on 2020-01-01"
}

@test 'the same version with another manifest is refused' {
	bundle_v 7
	airlock -q install b7.tar.zst
	echo 'changed' >>p7/data/input.csv
	signed p7 b7b.tar.zst
	run -3 airlock install b7b.tar.zst
	out_has "version 7 is installed with another manifest"
}

@test 'mix and match: the manifest of one bundle with the files of another' {
	bundle_v 8
	bundle_v 9
	stage b9.tar.zst
	mv stage files9
	stage b8.tar.zst
	cp files9/data/input.csv stage/data/input.csv
	retar mixed.tar.zst -- $(members)
	run -3 airlock install mixed.tar.zst
	out_has "data/input.csv: SHA-256 differs from the manifest"
	# the signatures of one with the manifest of the other
	cp files9/manifest.json stage/manifest.json
	retar mixed2.tar.zst -- $(members)
	run -3 airlock install mixed2.tar.zst
	out_has "0 of 2 required" "does not verify over this manifest"
}

@test 'installing the same bundle again is a no-op that says so' {
	bundle_v 10
	airlock -q install b10.tar.zst
	run -0 airlock install b10.tar.zst
	out_has "demo version 10 is installed already"
	[ "$(jq -r 'select(.event == "pipeline.installed") | .version' home/audit/audit-000001.jsonl | wc -l)" = 1 ]
}

@test 'a full disk while extracting: exit 4, the old version stays, nothing left over' {
	bundle_v 11
	bundle_v 12
	airlock -q install b11.tar.zst
	for n in 1 3 6; do
		AIRLOCK_FAULTS="write@$n+=ENOSPC" run airlock install b12.tar.zst
		[ "$status" -eq 4 ] || { echo "write@$n: exit $status: $output" >&2; return 1; }
		[ "$(installed_version)" = 11 ]
		[ -z "$(find home/bundles -maxdepth 1 -name '.tmp-*')" ]
	done
	AIRLOCK_FAULTS='syncfs@1=EIO' run -4 airlock install b12.tar.zst
	[ "$(installed_version)" = 11 ]
	AIRLOCK_FAULTS='rename@2=EIO' run -4 airlock install b12.tar.zst
	[ "$(installed_version)" = 11 ]
	run -0 airlock install b12.tar.zst
	[ "$(installed_version)" = 12 ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'without an audit log nothing is installed' {
	bundle_v 13
	mv home/audit saved-audit
	run -2 airlock install b13.tar.zst
	out_has "no audit log here"
	[ ! -e home/pipelines/demo ]
}

@test 'a pipeline link that was tampered with is refused' {
	bundle_v 14
	airlock -q install b14.tar.zst
	ln -sfn /etc home/pipelines/demo
	run -3 airlock pipelines
	out_has "points to /etc, not to a verified bundle"
}
