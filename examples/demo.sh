#!/usr/bin/env bash
# demo.sh - what `make demo` runs: airlock end to end as far as it exists.
# Today: two release officers' keys, a signature each over a file, checks
# with airlock, airlock-verify and stock minisign, a tampered copy being
# caught; then the audit log: entries, a seal, a checkpoint, an export
# verified by airlock-verify, and an edited entry being caught. Later
# issues extend it to the full nightly pipeline.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${AIRLOCK_BUILD:-$here/../build/dyn}
case $build in /*) ;; *) build="$here/../$build" ;; esac
PATH="$build:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "airlock $(airlock version)"

step "Two release officers generate their keys (one encrypted, one -W)"
printf 'officer one passphrase\n' >officer1.pass
show airlock keygen -p officer1.pub -s officer1.key --passfile officer1.pass -c 'officer 1'
show airlock keygen -W -p officer2.pub -s officer2.key -c 'officer 2'

step "Each signs the release file"
printf 'pipeline nightly-risk version 42\n' >release.txt
show airlock sign-file -s officer1.key --passfile officer1.pass -x release.txt.sig1 \
	-t 'approved by officer 1' release.txt
show airlock sign-file -s officer2.key -x release.txt.sig2 -t 'approved by officer 2' release.txt
show cat release.txt.sig1

step "airlock, airlock-verify and stock minisign all accept both signatures"
show airlock verify-file -p officer1.pub -x release.txt.sig1 release.txt
show airlock-verify sig -p officer2.pub -x release.txt.sig2 release.txt
if command -v minisign >/dev/null; then
	show minisign -Vm release.txt -x release.txt.sig1 -p officer1.pub
	show minisign -Vm release.txt -x release.txt.sig2 -p officer2.pub
else
	echo "(minisign is not installed: run make deps)"
fi

step "Someone changes one byte of the file: the signature check fails (exit 3)"
sed 's/42/43/' release.txt >tampered.txt
cp release.txt.sig1 tampered.txt.minisig
printf '$ airlock verify-file -p officer1.pub tampered.txt\n'
if airlock verify-file -p officer1.pub tampered.txt; then
	echo "demo: the tampered file verified - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

step "Someone edits the trusted comment: caught too"
sed 's/approved by officer 2/approved by officer 9/' release.txt.sig2 >edited.sig
printf '$ airlock verify-file -p officer2.pub -x edited.sig release.txt\n'
if airlock verify-file -p officer2.pub -x edited.sig release.txt; then
	echo "demo: the edited comment verified - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

step "Checksums, as sha256sum prints them"
show airlock sha256 release.txt tampered.txt

step "The audit log: created with a seal key k0 that leaves the host"
export AIRLOCK_HOME=$work/home
show airlock audit init --seal-key-out k0.txt
show airlock audit append --event operator.note --field text='release 42 received'
show airlock audit append --event operator.note --field text='release 42 approved by two officers'
show airlock audit seal
show airlock audit tail -n 4

step "A pipeline bundle: packed, signed by both officers, installed"
mkdir -p pipe/bin pipe/data
cat >pipe/airlock.json <<'JSON'
{
  "format": "airlock.manifest/1",
  "pipeline": "nightly-risk",
  "version": 42,
  "expires": "2099-01-01T00:00:00Z",
  "steps": [
    {"id": "score", "run": ["bin/score", "data/positions.csv"], "outputs": [{"path": "scores.csv", "min_rows": 1}],
     "retries": {"max": 2, "base": "200ms", "cap": "1s"}},
    {"id": "report", "needs": ["score"], "run": ["bin/report", "score:scores.csv"], "outputs": [{"path": "report.txt"}]}
  ]
}
JSON
# shellcheck disable=SC2016 # the script's own variables
printf '#!/bin/sh\nsed 1d "$1" >"$AIRLOCK_OUT/scores.csv"\n' >pipe/bin/score
cat >pipe/bin/report <<'SH'
#!/bin/sh
awk -F, '{ s += $2 } END { print "total", s }' "$1" >"$AIRLOCK_OUT/report.txt"
SH
chmod 755 pipe/bin/score pipe/bin/report
printf 'account,amount\nA-1,100\n' >pipe/data/positions.csv
show airlock pack pipe -o nightly.tar.zst
show airlock sign nightly.tar.zst -s officer1.key --passfile officer1.pass
show airlock sign nightly.tar.zst -s officer2.key
show airlock keys add officer1.pub --name 'officer 1'
show airlock keys add officer2.pub --name 'officer 2'
show airlock install nightly.tar.zst
show airlock pipelines

step "The pipeline runs: each step audited before it starts, outputs promoted"
show airlock -q run nightly-risk --date 2026-11-25
show airlock status
show cat "$AIRLOCK_HOME/outputs/nightly-risk/2026-11-25/report/report.txt"

step "A rerun is safe: committed steps are skipped; a changed output is rerun"
show airlock -q run nightly-risk --date 2026-11-25
echo 'A-1,1' >>"$AIRLOCK_HOME/outputs/nightly-risk/2026-11-25/score/scores.csv"
show airlock -q run nightly-risk --date 2026-11-25
show airlock audit query --event output.phantom

step "A bundle changed after signing is refused, and the refusal audited"
mkdir tampered && tar --zstd -xf nightly.tar.zst -C tampered
printf 'account,amount\nA-1,999999\n' >tampered/data/positions.csv
(cd tampered && tar --format=pax --owner=0 --group=0 --numeric-owner -cf - manifest.json signatures/* bin/score data/positions.csv) |
	zstd -q -c >tampered.tar.zst
printf '$ airlock install tampered.tar.zst\n'
if airlock install tampered.tar.zst; then
	echo "demo: the tampered bundle installed - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

step "The seals check with k0: nothing sealed was rewritten"
show airlock audit verify --seal-key k0.txt

step "A checkpoint kept off the host, an export for the regulator"
show airlock audit checkpoint -o anchor
show airlock audit export -o evidence.tar.zst
show airlock-verify audit evidence.tar.zst --seal-key k0.txt --anchor anchor/checkpoint.txt

step "Someone edits an entry: the chain catches it at the next line"
seg=$AIRLOCK_HOME/audit/audit-000001.jsonl
sed -i 's/approved by two officers/approved by one officer/' "$seg"
printf '$ airlock audit verify --seal-key k0.txt\n'
if airlock audit verify --seal-key k0.txt; then
	echo "demo: the edited log verified - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

printf '\ndemo: OK\n'
