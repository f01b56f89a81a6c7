#!/usr/bin/env bash
# demo.sh - what `make demo` runs: airlock end to end as far as it exists.
# Today: two release officers' keys, a signature each over a file, checks
# with airlock, airlock-verify and stock minisign, a tampered copy being
# caught; then the audit log: entries, a seal, a checkpoint, an export
# verified by airlock-verify, and an edited entry being caught; then the
# nightly pipeline of examples/nightly: packed, signed by two officers
# (threshold 2), installed, run with its local stand-ins, its status,
# quarantine, summary, metrics and report shown, rerun safely, and a bad
# night failing loudly.
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

step "The audit log: its seal public key goes to the compliance officer"
export AIRLOCK_HOME=$work/home
show airlock audit init --seal-pub-out seal.pub
show airlock audit append --event operator.note --field text='release 42 received'
show airlock audit append --event operator.note --field text='release 42 approved by two officers'
show airlock audit seal
show airlock audit tail -n 4

step "The nightly pipeline (examples/nightly): packed, signed by both officers, installed"
# Its stand-ins live under $work/base instead of /var/tmp/airlock-nightly,
# and the scoring service listens on a free port.
base=$work/base
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp -r "$here/nightly/pipeline" pipe
sed -i "s|/var/tmp/airlock-nightly|$base|g; s|18475|$port|" pipe/airlock.json
# the score step's image (Debian's python3, exported by skopeo): built once
# by `make nightly-image`, else here
mkdir -p pipe/images
if [ -s "${NIGHTLY_IMAGE:-}" ]; then
	cp "$NIGHTLY_IMAGE" pipe/images/score.tar
else
	echo "building the score step's image (examples/nightly/image/build, ~30 s)"
	"$here/nightly/image/build" pipe/images/score.tar >/dev/null
fi
show airlock pack pipe -o nightly.tar.zst
show airlock sign nightly.tar.zst -s officer1.key --passfile officer1.pass
show airlock sign nightly.tar.zst -s officer2.key
show airlock keys add officer1.pub --name 'officer 1'
show airlock keys add officer2.pub --name 'officer 2'
show airlock keys threshold 2
show airlock install nightly.tar.zst
show airlock pipelines
show airlock image ls

step "Tonight's inputs: a drop folder with _SUCCESS (3 bad rows of 203), a token, the scoring service"
today=$(date -u +%F)
show "$here/nightly/stubs/make-drop" "$base/drop/$today" --rows 200 --bad 3
show "$here/nightly/stubs/make-token" "$base/secrets/ml_token" --expires-in 36000
# the summary step writes the outbox through the mount it declares, as the
# uid confined steps run as (as root: airlock-step, else nobody)
mkdir -p "$base/outbox"
if [ "$(id -u)" = 0 ]; then
	chown "$(id -u airlock-step 2>/dev/null || echo 65534)" "$base/outbox"
fi
"$here/nightly/stubs/scoring-service" --port "$port" --mode flaky --state-dir "$work/svc" \
	>"$work/svc.out" 2>"$work/svc.err" &
svc=$!
trap 'kill "$svc" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q listening "$work/svc.out" && break; sleep 0.05; done
echo "scoring service on 127.0.0.1:$port (flaky: its first two answers are 503)"

step "The run: await, validate (quarantine), score (retried, breaker), publish, summary"
show airlock -q run nightly-risk
show airlock status
run=$(airlock --json runs --limit 1 | jq -r '.[0].run')
show head -3 "$AIRLOCK_HOME/quarantine/nightly-risk/$today/validate/rejected.jsonl"
show jq -c '{status, cause, alerts: (.alerts | length), steps: [.steps[] | {id, state, attempts}]}' \
	"$base/outbox/$today/$run.json"
show head -4 "$AIRLOCK_HOME/outputs/nightly-risk/$today/publish/results.csv"
show grep -E '^airlock_(run_last_status|step_attempts_total)' "$AIRLOCK_HOME/metrics/airlock.prom"
show airlock report "$run" -o report.html
echo "report.html: $(wc -c <report.html) bytes, self-contained"

step "Each step was confined; step.start records the layers it got (airlock doctor: what this host gives)"
show airlock doctor
printf '$ airlock --json audit query --event step.start --run %s | jq ...\n' "$run"
airlock --json audit query --event step.start --run "$run" |
	jq -c '{step, isolation: (.isolation | if .confined then {confined, uid, mountns, pidns, netns, seccomp, landlock} + (if .mounts then {mounts} else {} end) else {confined, why} end)}' |
	awk '!seen[$0]++'
echo "the score step ran in its image, as the image's User, mapped to the step's own uid:"
airlock --json audit query --event step.start --run "$run" |
	jq -c 'select(.image) | {step, image: {name: .image.name, digest: .image.digest[0:19], user: .image.user}, host_uid: .isolation.uid}' |
	awk '!seen[$0]++'

step "A rerun is safe: committed steps are skipped; a changed output is rerun"
show airlock -q run nightly-risk
# committed outputs are read-only: whoever changes one must make it writable first
chmod u+w "$AIRLOCK_HOME/outputs/nightly-risk/$today/publish/results.csv"
echo 'ACC999999,XS0000000000,0.5' >>"$AIRLOCK_HOME/outputs/nightly-risk/$today/publish/results.csv"
show airlock -q run nightly-risk
show airlock audit query --event output.phantom
echo "every version is kept: the one before the edit comes back byte for byte"
show airlock recreate "$AIRLOCK_HOME/outputs/nightly-risk/$today/publish/results.csv" --list
show sh -c "airlock recreate '$AIRLOCK_HOME/outputs/nightly-risk/$today/publish/results.csv' --run $run | tail -2"

step "Another night: 6% of the rows are bad - the run fails, the quarantine and the summary say why"
bad=$(date -u -d yesterday +%F)
show "$here/nightly/stubs/make-drop" "$base/drop/$bad" --rows 94 --bad 6
printf '$ airlock -q run nightly-risk --date %s\n' "$bad"
if airlock -q run nightly-risk --date "$bad"; then
	echo "demo: the run with 6% bad rows succeeded - this must not happen" >&2
	exit 1
else
	echo "exit status $? - the run failed, as the manifest says (max_reject 5%)"
fi
show jq -r .cause "$(ls -t "$base/outbox/$bad"/*.json | head -1)"

step "A bundle changed after signing is refused, and the refusal audited"
mkdir tampered && tar --zstd -xf nightly.tar.zst -C tampered
printf '\n# changed after signing\n' >>tampered/bin/send-summary
# shellcheck disable=SC2046 # the members, in the manifest's order
(cd tampered && tar --format=pax --owner=0 --group=0 --numeric-owner -cf - manifest.json signatures/* \
	$(jq -r '.files[].path' manifest.json)) | zstd -q -c >tampered.tar.zst
printf '$ airlock install tampered.tar.zst\n'
if airlock install tampered.tar.zst; then
	echo "demo: the tampered bundle installed - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

step "The seals check with the public key: nothing sealed was rewritten"
show airlock audit verify --seal-pub seal.pub

step "A checkpoint kept off the host, an export for the regulator"
show airlock audit checkpoint -o anchor
show airlock audit export -o evidence.tar.zst
show airlock-verify audit evidence.tar.zst --seal-pub seal.pub --anchor anchor/checkpoint.txt
echo "the examiner asks the export itself, with no airlock home: verified first, then queried"
show airlock-verify sql evidence.tar.zst --seal-pub seal.pub \
	"SELECT substr(ts, 1, 19) AS ts, run, json_extract(json, '$.files[0].path') AS file FROM entries WHERE event = 'output.committed' AND step = 'publish'"

step "Someone edits an entry: the chain catches it at the next line"
seg=$AIRLOCK_HOME/audit/audit-000001.jsonl
sed -i 's/approved by two officers/approved by one officer/' "$seg"
printf '$ airlock audit verify --seal-pub seal.pub\n'
if airlock audit verify --seal-pub seal.pub; then
	echo "demo: the edited log verified - this must not happen" >&2
	exit 1
else
	echo "exit status $? - tamper caught"
fi

printf '\ndemo: OK\n'
