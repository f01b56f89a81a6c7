#!/usr/bin/env bats
# t5150-nightly-image: the reference nightly pipeline as it ships, its
# score step in the image it was built with (examples/nightly/image/build:
# Debian's essential packages and python3 by mmdebstrap, one gzip layer,
# exported by skopeo as an OCI archive; `make nightly-image` caches it in
# build/cache/). Packed, signed by two officers, installed, run: the step
# runs the image's python3, not the host's, as the image's User, with the
# host's name resolution (network: host), and the evidence names the
# image by digest from the bundle to every score attempt. Installing it
# on a terminal shows the progress line (DESIGN.md §8), and only there.

load ../lib/common
load ../fixtures/run
load ../fixtures/nightly
load ../fixtures/bundle

setup() {
	common_setup
	NIGHTLY_WITH_IMAGE=1 nightly_setup
	officers
	airlock -q keys threshold 2
}

teardown() {
	service_stop
}

@test 'the nightly in its image: signed with the image, installed once, scored in it, named in every step.start' {
	service flaky
	drop 2031-01-01 --rows 100 --bad 3
	signed p b.tar.zst
	digest=$(airlock manifest b.tar.zst | jq -r '.images.score.digest')
	[[ $digest == sha256:* ]]
	# on a terminal (script(1) gives it one), the image's phases are one
	# progress line, redrawn in place and erased at the end
	# (command: tests/fixtures/run.bash has a function named script)
	run -0 command script -qfec "$(command -v airlock) install b.tar.zst" /dev/null
	out_has $'\rimage score: unpacking  ' ' MiB of ' '/s  ' ' left'$'\e[K' $'\r\e[K'
	[ "$(count_events '.event == "image.unpacked"')" -eq 1 ]
	audit_events '.event == "pipeline.installed"' | jq -e --arg d "$digest" '.images[0].config_digest == $d'
	run -0 airlock run nightly-risk --date 2031-01-01
	# flaky: the first answers are 503, retried; every attempt in the image
	[ "$(count_events '.event == "step.start" and .step == "score"')" -ge 2 ]
	audit_events '.event == "step.start" and .step == "score"' |
		jq -e --arg d "$digest" '.image.digest == $d and .image.user == {"config": "nobody:nogroup", "uid": 65534, "gid": 65534} and .isolation.confined'
	# the other steps ran on the host's tree, as before
	[ "$(count_events '.event == "step.start" and .step != "score" and .image != null')" -eq 0 ]
	sqlite3 "$AIRLOCK_HOME/outputs/nightly-risk/2031-01-01/publish/warehouse.db" 'SELECT count(*) FROM scores' | grep -qx 100
	tree=$(audit_events '.event == "step.start" and .step == "score"' | tail -1 | jq -r .image.tree_sha256)
	[ "$(sha256sum <"$AIRLOCK_HOME/images/${digest#sha256:}/tree.txt" | cut -d' ' -f1)" = "$tree" ]
	verified
	# a second bundle version with the same image: no second unpack
	jq '.version = 2' p/airlock.json >m && mv m p/airlock.json
	signed p b2.tar.zst
	run -0 airlock install b2.tar.zst
	[ "$(count_events '.event == "image.unpacked"')" -eq 1 ]
	run -0 airlock image ls
	out_has score "${digest:7:12}"
}

@test "the score step sees the image's python3 and /etc, not the host's; the host's hosts and resolv.conf" {
	service ok
	drop 2031-01-02 --rows 10
	# a probe beside the score command, in the same step (its verify is
	# untouched): what the step sees, written into its output
	cat >p/bin/probe <<-'SH'
	#!/bin/sh
	{
		echo "python=$(command -v python3) $(python3 -c 'import sys; print(sys.version.split()[0])')"
		echo "debian=$(cat /etc/debian_version)"
		echo "id=$(id -u):$(id -g)"
		[ -e /usr/bin/airlock ] && echo HOST-USR
		cmp -s /etc/hosts /airlock/bundle/hosts.expect && echo HOSTS-OK
	} >"$AIRLOCK_OUT/probe.txt" 2>&1
	exec "$@"
	SH
	chmod +x p/bin/probe
	cp /etc/hosts p/hosts.expect
	manifest '(.steps[] | select(.id == "score")) |= (.run = ["bin/probe"] + .run | .outputs += [{"path": "probe.txt"}])'
	# not a terminal: the image is unpacked without a progress line
	run -0 airlock run --unsigned p --date 2031-01-02
	out_lacks unpacking
	out_lacks $'\r'
	[ "$(count_events '.event == "image.unpacked"')" -eq 1 ]
	r=$AIRLOCK_HOME/scratch/outputs/nightly-risk/2031-01-02/score/probe.txt # unsigned
	cat "$r"
	grep -qx 'python=/usr/bin/python3 3.11.[0-9]*' "$r"
	grep -qx 'debian=12.[0-9]*' "$r"
	grep -qx 'id=65534:65534' "$r"
	grep -qx HOSTS-OK "$r"
	grep -q HOST-USR "$r" && return 1
	verified
}
