#!/usr/bin/env bash
# seeds.sh - makes the fuzz targets' seed corpora from scratch, with the
# binaries of a normal build: $FUZZ_BUILD/corpus/<target>/ (inputs the
# fuzzer adds stay there until the next run of this script), and the
# trust policy's keys of the bundle target in corpus/bundle-keys/. Also
# writes the dictionaries $FUZZ_BUILD/dict/<target>.dict.
#
#   AIRLOCK_BUILD=build/dyn FUZZ_BUILD=build/fuzz tests/fuzz/seeds.sh
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AIRLOCK_BUILD:-build/dyn}
fuzz=${FUZZ_BUILD:-build/fuzz}
case $build in /*) ;; *) build="$root/$build" ;; esac
case $fuzz in /*) ;; *) fuzz="$root/$fuzz" ;; esac
airlock="$build/airlock"
mklog="$build/tests/mklog"
corpus="$fuzz/corpus"
for f in "$airlock" "$mklog"; do
	[ -x "$f" ] || { echo "seeds.sh: $f is missing: build it first (make all test-helpers)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT
targets="manifest keys audit_line audit_verify checkpoint shards bundle validate image restore"
rm -rf "$corpus" "$fuzz/dict"
for t in $targets bundle-keys; do
	mkdir -p "$corpus/$t"
done
mkdir -p "$fuzz/dict"
export AIRLOCK_HOME="$work/home" SOURCE_DATE_EPOCH=1764000000
cd "$work"

# seed TARGET NAME: stdin becomes corpus/TARGET/NAME.
seed() {
	cat >"$corpus/$1/$2"
}

# ---- keys and signatures
"$airlock" -q keygen -W -p o1.pub -s o1.key >/dev/null
"$airlock" -q keygen -W -p o2.pub -s o2.key >/dev/null
printf 'correct horse\n' >pass
"$airlock" -q keygen -p enc.pub -s enc.key --passfile pass >/dev/null
printf 'hello\n' >msg
"$airlock" -q sign-file -s o1.key -t 'trusted: msg' msg
cp o1.pub o2.pub "$corpus/bundle-keys/"
seed keys pub <o1.pub
seed keys seckey <o1.key
seed keys seckey-encrypted <enc.key
seed keys minisig <msg.minisig
sed -n 2p o1.pub | tr -d '\n' | seed keys pub-bare
# A public key and a signature by it, one after the other.
cat o1.pub msg.minisig | seed keys pub-and-sig

# ---- manifests: the example's, a test pipeline's, and a bundle's
seed manifest nightly <"$root/examples/nightly/pipeline/airlock.json"
# shellcheck source=tests/fixtures/bundle.bash
. "$root/tests/fixtures/bundle.bash"
mkpipe pipe 3
seed manifest demo <pipe/airlock.json
"$airlock" -q pack pipe -o demo.tar.zst
"$airlock" -q sign demo.tar.zst -s o1.key
"$airlock" -q sign demo.tar.zst -s o2.key
"$airlock" manifest demo.tar.zst | seed manifest bundle-manifest
cp -r "$root/examples/nightly/pipeline" nightly
# without its image (a 46 MB archive is no seed): the manifest's own seed has it
jq 'del(.images) | .steps |= map(del(.image))' nightly/airlock.json >nightly/m && mv nightly/m nightly/airlock.json
"$airlock" -q pack nightly -o nightly.tar.zst
"$airlock" -q sign nightly.tar.zst -s o1.key
"$airlock" manifest nightly.tar.zst | seed manifest nightly-bundle-manifest

# ---- bundles: signed by both policy keys, and unsigned
seed bundle demo <demo.tar.zst
seed bundle nightly <nightly.tar.zst
mkpipe small 1
"$airlock" -q pack small -o small.tar.zst
seed bundle unsigned <small.tar.zst

# ---- audit: a log (mklog), its lines, a checkpoint, an export
"$airlock" -q audit init --seal-pub-out seal.pub
"$mklog" "$AIRLOCK_HOME" 40 >/dev/null
"$airlock" -q audit seal
"$airlock" -q audit checkpoint -o cp
"$airlock" -q audit export -o export.tar.zst
seg="$AIRLOCK_HOME/audit/audit-000001.jsonl"
seed audit_verify log <"$seg"
head -n 5 "$seg" | seed audit_verify log-head
seed audit_verify export <export.tar.zst
# One line of each event.
awk -v dir="$corpus/audit_line" '{
	if (match($0, /"event":"[^"]*"/)) {
		ev = substr($0, RSTART + 9, RLENGTH - 10)
		if (!(ev in seen)) { seen[ev] = 1; f = dir "/" ev; printf "%s", $0 > f; close(f) }
	}
}' "$seg"
seed checkpoint checkpoint <cp/checkpoint.txt
# ---- restore: what a collector keeps of the log: raw lines, whole RFC
# 5424 lines, a split entry's parts, a fragment, a gap
head -n 12 "$seg" | seed restore raw
head -n 12 "$seg" | awk '{ printf "<110>1 2026-01-01T00:00:00Z h airlock 1 x [airlock@32473 log_id=\"0\" seq=\"%d\"] %s\n", NR, $0 }' |
	seed restore rfc5424
{ head -n 3 "$seg"
  l=$(sed -n 4p "$seg")
  printf '#airlock-part seq=4 part=1 end=0 %s\n' "${l:0:40}"
  printf '#airlock-part seq=4 part=2 end=1 %s\n' "${l:40}"
  printf '#airlock-fragment after=4 {"seq":5,"ts\n'
  sed -n '7,9p' "$seg"; } | seed restore parts-gap
# a summary of two shards (the second a copy of the first under another id)
{ cp_line=$(sed -n '1s/^airlock.audit\/1 //p; 2,4p' cp/checkpoint.txt | paste -sd' ')
  printf 'airlock.shards/1 seed\n2\n0 %s 07443427227916FB\n' "$cp_line"
  printf '1 %s 0000000000000001\n' "$(printf '%s' "$cp_line" | sed 's/^./f/')"; } | seed shards two

# ---- validate: a schema, "----", data
sep='----'
{ cat "$root/examples/nightly/pipeline/schemas/positions.json"; echo "$sep"
  printf 'account,isin,qty,price,side,trade_date\n'
  printf 'ACC000001,US0378331005,10,101.25,BUY,2026-11-25\n'
  printf 'ACC00000X,US0378331005,ten,1,SELL,2026-02-30\n'
  printf '"ACC000002","GB0002634946",3,"7.5",SELL,2026-11-25,extra\n'
} | seed validate positions
{ printf '{"format": "airlock.schema/1", "type": "csv", "header": true, "delimiter": ",",\n'
  printf ' "columns": [\n'
  printf '  {"name": "account", "type": "regex", "pattern": "^ACC[0-9]{6}$"},\n'
  printf '  {"name": "isin", "type": "string", "required": true, "max_length": 12},\n'
  printf '  {"name": "qty", "type": "int", "min": 0, "max": 1000000},\n'
  printf '  {"name": "price", "type": "decimal", "min": 0.01},\n'
  printf '  {"name": "side", "type": "enum", "values": ["BUY", "SELL"]},\n'
  printf '  {"name": "trade_date", "type": "date"},\n'
  printf '  {"name": "as_of", "type": "timestamp", "required": false}\n'
  printf ' ]}\n%s\n' "$sep"
  printf 'account,isin,qty,price,side,trade_date,as_of\n'
  printf 'ACC000001,US0378331005,10,101.25,BUY,2026-11-25,2026-11-25T03:00:01Z\n'
  printf 'ACC000001,US0378331005,-1,0,HOLD,2026-13-01,\n'
  printf 'ACC000003,"US03783\n31005",1,1,BUY,2026-11-25,2026-11-25T03:00:01Z\n'
} | seed validate trades
{ printf '{"format": "airlock.schema/1", "type": "jsonl", "columns": [\n'
  printf '  {"name": "id", "type": "int"},\n'
  printf '  {"name": "amount", "type": "decimal", "max": 1000},\n'
  printf '  {"name": "kind", "type": "enum", "values": ["a", "b"]},\n'
  printf '  {"name": "at", "type": "timestamp"},\n'
  printf '  {"name": "note", "type": "string", "required": false}\n'
  printf ']}\n%s\n' "$sep"
  printf '{"id": 1, "amount": "12.50", "kind": "a", "at": "2026-11-25T03:00:01Z"}\n'
  printf '{"id": "x", "amount": 1e9, "kind": "c", "at": null, "note": 3}\n'
  printf '[1, 2]\n{"id": 2\n'
} | seed validate events
{ printf '{"format": "airlock.schema/1", "type": "csv", "header": false, "delimiter": ";",\n'
  printf ' "columns": [{"name": "a", "type": "string"}, {"name": "b", "type": "int", "required": false}]}\n'
  printf '%s\n' "$sep"
  printf 'x;1\r\ny;\r\n"q""uoted";2\n;;\n'
} | seed validate semicolons

# ---- images: small OCI and docker save archives, each compression (no
# host programs: the layers' semantics are what the target is after)
jq 'del(.host)' "$root/tests/fixtures/image-spec.json" >image-spec.json
for f in oci docker docker25; do
	for c in none gzip zstd; do
		python3 "$root/tests/fixtures/mkimage.py" --spec image-spec.json --out "image-$f-$c.tar" \
			--format "$f" --compress "$c" >/dev/null
		seed image "$f-$c" <"image-$f-$c.tar"
	done
done
# and their blobs alone: the target also applies its input as one layer
for c in none gzip zstd; do
	mkdir "blobs-$c" && tar -xf "image-oci-$c.tar" -C "blobs-$c"
	for b in "blobs-$c"/blobs/sha256/*; do
		seed image "blob-$c-$(basename "$b" | cut -c1-12)" <"$b"
	done
done

# ---- dictionaries: the names and words of each format
dict() {
	local out="$fuzz/dict/$1.dict" w
	shift
	: >"$out"
	for w in "$@"; do
		printf '"%s"\n' "$w" >>"$out"
	done
}
# shellcheck disable=SC2016
dict manifest '\"format\"' '\"airlock.manifest/1\"' '\"pipeline\"' '\"version\"' '\"expires\"' \
	'\"created\"' '\"files\"' '\"defaults\"' '\"steps\"' '\"id\"' '\"run\"' '\"needs\"' \
	'\"kind\"' '\"outputs\"' '\"path\"' '\"min_bytes\"' '\"timeout\"' '\"retries\"' '\"max\"' \
	'\"base\"' '\"cap\"' '\"validate\"' '\"await\"' '\"input\"' '\"schema\"' '\"output\"' \
	'\"max_reject\"' '\"sha256\"' '\"size\"' '\"mode\"' '\"skip\"' '\"env\"' ': ' '{' '}' '[' ']' \
	'30m' '1s' '8s' '4G' '2030-01-01T00:00:00Z' ':out.txt'
dict audit '\"seq\":' '\"ts\":' '\"prev\":' '\"event\":' '\"log.open\"' '\"log.resume\"' \
	'\"log.segment\"' '\"seal\"' '\"epoch\":' '\"upto\":' '\"mac\":' '\"run.start\"' \
	'\"step.end\"' '\"clock.backwards\"' '\"log_id\":' '2026-11-25T03:00:01.000000Z' '\\u0000' \
	'airlock.audit/1 '
dict validate '\"format\"' '\"airlock.schema/1\"' '\"type\"' '\"csv\"' '\"jsonl\"' '\"header\"' \
	'\"delimiter\"' '\"columns\"' '\"name\"' '\"required\"' '\"max_length\"' '\"min\"' '\"max\"' \
	'\"values\"' '\"pattern\"' '\"string\"' '\"int\"' '\"decimal\"' '\"enum\"' '\"date\"' \
	'\"timestamp\"' '\"regex\"' '\x0A----\x0A' '\"\"' '\x0D\x0A' '2026-02-29' '2026-11-25T03:00:01Z'
dict image '\"schemaVersion\"' '\"mediaType\"' '\"digest\"' '\"size\"' '\"manifests\"' \
	'\"layers\"' '\"config\"' '\"rootfs\"' '\"diff_ids\"' '\"architecture\"' '\"os\"' \
	'\"Config\"' '\"Layers\"' 'sha256:' 'blobs/sha256/' 'oci-layout' 'index.json' 'manifest.json' \
	'.wh.' '.wh..wh..opq' '../' 'ustar' '\x1F\x8B' '\x28\xB5\x2F\xFD'
dict keys 'untrusted comment: ' 'trusted comment: ' 'Ed' 'ED' 'Sc' 'B2' '\x0A'
echo "seeds.sh: $(find "$corpus" -type f | wc -l) seeds in $corpus"
