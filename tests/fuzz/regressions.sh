#!/bin/sh
# regressions.sh DIR - writes every input a fuzz target ever crashed or
# misbehaved on into DIR/<target>/<name> (t8000 replays them). The inputs
# are kept here as printf escapes, not as committed binaries; add one
# line per finding, kept forever.
set -eu
[ $# -eq 1 ] || { echo "usage: tests/fuzz/regressions.sh DIR" >&2; exit 2; }
dir=$1

# put TARGET NAME BYTES: BYTES is a printf format (octal escapes).
put() {
	mkdir -p "$dir/$1"
	# shellcheck disable=SC2059 # the bytes are the format, by design
	printf "$3" >"$dir/$1/$2"
}

# al_checkpoint_parse took a NUL in the size line as size 0 (strtoull alone)
put checkpoint size-nul 'airlock.audit/1 4f42673097b50b19ecbf846ece0f527a\012\000:\012524ddffb125cf4a5febd48efcc015c9fa3d15d06deff2d3e1ee1a7ab30f1eafb\0122026-12-02t03:08:22.330750Z\012'
# al_checkpoint_parse checked the time only up to a NUL inside it
put checkpoint ts-nul 'airlock.audit/1 502e3fd8dc977bd5eb7574f690d67e68\01245\012a753797c2e856f70c2d1f39bd28a399273b6de3cba48dd3afcd1738736661b62\0122026-12-02T03:08:57z\000\000\000@91Z\012'
# al_shards_parse leaked the shard table when the text ended without a newline
put shards no-newline-leak 'airlock.shards/1 as\0121\012&\312'
# al_audit_restore answered "whole" (0) for parts that joined into no entry,
# having written nothing
put restore parts-no-entry '#airlock-part seq=1 part=1 end=1 x\012'
# al_audit_restore placed parts by their tag's seq though they joined into
# an entry of another seq: the log it wrote ran backwards (first > last)
put restore parts-other-seq '#airlock-part seq=1 part=1 end=1 {"seq":9,"ts":"2026-12-01T00:00:00.000000Z","prev":"0000000000000000000000000000000000000000000000000000000000000000","event":"x"}\012{"seq":3,"ts":"2026-12-01T00:00:00.000000Z","prev":"0000000000000000000000000000000000000000000000000000000000000000","event":"x"}\012'
