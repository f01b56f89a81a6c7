#!/usr/bin/env bats
# t4900-images: steps that run in the image they were built with
# (manifests/FORMAT.md, "Images"). Images are made at test time by
# tests/fixtures/mkimage.py from a spec (two layers: a whiteout, an opaque
# directory, a rewritten /etc/passwd, hard links; the shell and a few
# tools copied from this host with their libraries) in each layout and
# compression, and as hostile variants; each hostile one must be refused,
# or contained with nothing made outside the home and no device, FIFO or
# setuid file inside it.

load ../lib/common
load ../fixtures/run
load ../fixtures/bundle

DATE=2026-11-25
# a step that only writes its output, with the shell's builtins
OK=': >"$AIRLOCK_OUT/result.txt"'
SPEC=$TESTS_DIR/fixtures/image-spec.json

setup() {
	common_setup
	mkhome
}

# image OUT [MKIMAGE-OPTIONS...]: an image archive; its digest in $DIGEST.
image() {
	local out=$1
	shift
	DIGEST=$(python3 "$TESTS_DIR/fixtures/mkimage.py" --spec "$SPEC" --out "$out" "$@" 2>/dev/null)
	[[ $DIGEST == sha256:* ]]
}

# in_image DIR SCRIPT [DIGEST]: pipeline DIR whose one step s runs SCRIPT
# (sh -c) in image "base" (DIR/images/base.tar), result.txt its output.
in_image() {
	local dir=$1 script=$2 digest=${3:-}
	local d=''
	[ -z "$digest" ] || d=", \"digest\": \"$digest\""
	mkdir -p "$dir/bin"
	cat >"$dir/airlock.json" <<-JSON
	{
	  "format": "airlock.manifest/1",
	  "pipeline": "p",
	  "version": 1,
	  "expires": "2099-01-01T00:00:00Z",
	  "images": {"base": {"archive": "images/base.tar"$d}},
	  "defaults": {"timeout": "60s"},
	  "steps": [{"id": "s", "image": "base",
	             "run": ["/bin/sh", "-c", $(jq -Rn --arg s "$script" '$s')],
	             "outputs": [{"path": "result.txt"}]}]
	}
	JSON
}

# The layer semantics, seen from inside the step.
LOOK='{ cat /etc/passwd; ls /data /opaque /w; cat /w/hello-link; \
ls /usr/lib/python3 2>&1; [ -e /usr/bin/airlock ] && echo HOST-USR; \
echo "A=$A PATH=$PATH"; } >"$AIRLOCK_OUT/result.txt" 2>&1'

semantics() {
	local r=$1
	grep -qx 'user:x:1000:1000:user:/w:/bin/sh' "$r"   # layer 2 rewrote /etc/passwd
	grep -qx 'keep.txt' "$r"
	grep -q 'gone.txt' "$r" && return 1                 # whited out
	grep -qx 'new' "$r"                                 # opaque directory
	grep -q 'old1' "$r" && return 1
	grep -qx 'hello' "$r"                               # through a hard link
	grep -q 'na.*ve' "$r"                               # a UTF-8 name
	grep -q HOST-USR "$r" && return 1                   # not the host's /usr
	grep -q 'No such file' "$r"
	grep -qx 'A=1 PATH=/airlock/bundle/bin:/usr/bin:/bin' "$r"
}

@test 'an OCI archive with gzip layers: installed from a signed bundle, run, named in step.start' {
	officers
	mkdir -p pipe/images
	image pipe/images/base.tar --format oci --compress gzip
	in_image pipe "$LOOK"
	signed pipe b.tar.zst
	# pack filled in the digest
	run -0 airlock manifest b.tar.zst
	echo "$output" | jq -e --arg d "$DIGEST" '.images.base.digest == $d'
	run -0 airlock install b.tar.zst
	run -0 airlock run p --date $DATE
	semantics "$(AREA=outputs out_file s result.txt)"
	audit_events '.event == "step.start"' | tail -1 | jq -e --arg d "$DIGEST" '.image.digest == $d and .image.name == "base"'
	audit_events '.event == "pipeline.installed"' | tail -1 | jq -e --arg d "$DIGEST" '.images[0].config_digest == $d'
	audit_events '.event == "image.unpacked"' | tail -1 | jq -e --arg d "$DIGEST" '.config_digest == $d'
	# the tree hash is the SHA-256 of tree.txt, which standard tools read
	tree=$(jq -r 'select(.event == "step.start") | .image.tree_sha256' "$(seg 1)")
	[ "$(sha256sum <"$AIRLOCK_HOME/images/${DIGEST#sha256:}/tree.txt" | cut -d' ' -f1)" = "$tree" ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'zstd layers, a docker save archive and Docker 25 both-layouts archive each run alike' {
	for f in 'oci zstd' 'docker none' 'docker gzip' 'docker25 gzip'; do
		set -- $f
		rm -rf "p-$1-$2" && mkdir -p "p-$1-$2/images"
		image "p-$1-$2/images/base.tar" --format "$1" --compress "$2"
		in_image "p-$1-$2" "$LOOK"
		run -0 airlock run --unsigned "p-$1-$2" --date $DATE --force s
		semantics "$(out_file s result.txt)"
	done
	# the same image in every layout: one tree in the store
	run -0 airlock image ls --json
	echo "$output" | jq -e 'length == 1'
}

@test 'what skopeo writes: docker-archive: and oci-archive: of the same image' {
	command -v skopeo >/dev/null || skip 'skopeo is not installed (make deps)'
	image src.tar --format oci --compress gzip
	skopeo --insecure-policy copy -q "oci-archive:src.tar" "docker-archive:d.tar:test:latest"
	skopeo --insecure-policy copy -q "oci-archive:src.tar" "oci-archive:o.tar:latest"
	for a in d.tar o.tar; do
		rm -rf "p$a" && mkdir -p "p$a/images" && cp "$a" "p$a/images/base.tar"
		in_image "p$a" "$LOOK"
		run -0 airlock run --unsigned "p$a" --date $DATE --force s
		semantics "$(out_file s result.txt)"
	done
}

@test 'the tree is the one umoci unpacks from the same image' {
	command -v umoci >/dev/null || skip 'umoci is not installed (make deps)'
	mkdir -p p/images layout
	image p/images/base.tar --format oci --compress gzip
	in_image p "$OK"
	run -0 airlock run --unsigned p --date $DATE
	tar -xf p/images/base.tar -C layout
	umoci unpack --rootless --image layout:latest bundle >/dev/null
	list() { (cd "$1" && find . -mindepth 1 \( -type f -printf '%y %p ' -exec sh -c 'sha256sum <"$1" | cut -c1-64' _ {} \; \) \
		-o \( ! -type f -printf '%y %p %l\n' \) | LC_ALL=C sort); }
	list "$AIRLOCK_HOME/images/${DIGEST#sha256:}/rootfs" >ours
	list bundle/rootfs >umoci
	diff -u umoci ours
}

@test 'pack refuses an archive that is not the digest the author wrote' {
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK" sha256:0000000000000000000000000000000000000000000000000000000000000000
	run -3 airlock pack p -o b.tar.zst
	out_has 'images.base.digest' "holds the image $DIGEST"
	[ ! -e b.tar.zst ]
}

@test 'a step in an image is never run unconfined' {
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	run -4 airlock run --unsigned p --date $DATE --unconfined-for-benchmarks
	out_has 'runs in image base' 'confined'
}

# with_user USER [LAYER-2 ENTRY...]: image-spec.json with config.User set
# (and entries added to layer 2), in ./spec.json; SPEC points at it.
with_user() {
	local user=$1
	shift
	jq --arg u "$user" --argjson add "[$(IFS=,; echo "$*")]" \
		'.config.User = $u | .layers[1] += $add' "$TESTS_DIR/fixtures/image-spec.json" >spec.json
	SPEC=$PWD/spec.json
}

# What the step is, seen from inside and from the host.
WHO='{ id -u; id -g; cat /proc/self/status; (: >/tmp/t) && echo TMP-OK; \
(: >/etc/x) 2>/dev/null && echo ETC-WRITABLE; : >/airlock/out/mine; } >"$AIRLOCK_OUT/result.txt" 2>&1'

@test "the image's User: its ids inside a user namespace of the step's own, no capability, never a host uid" {
	for u in '1000:1000' 'user' 'user:0' ''; do
		with_user "$u"
		rm -rf p && mkdir -p p/images
		image p/images/base.tar --format oci
		in_image p "$WHO"
		jq '.steps[0].outputs += [{"path": "mine"}]' p/airlock.json >m && mv m p/airlock.json
		run -0 airlock run --unsigned p --date $DATE --force s
		r=$(out_file s result.txt)
		case $u in
		'') want='0 0' ;;
		user:0) want='1000 0' ;;
		*) want='1000 1000' ;;
		esac
		[ "$(head -2 "$r" | tr '\n' ' ')" = "$want " ]
		grep -qx 'CapPrm:	0000000000000000' "$r"
		grep -qx 'CapEff:	0000000000000000' "$r"
		grep -qx 'CapBnd:	0000000000000000' "$r"
		grep -qx TMP-OK "$r"
		run ! grep -q ETC-WRITABLE "$r"
		# the host sees the step's own uid, whatever the image says
		ev=$(audit_events '.event == "step.start"' | tail -1)
		host_uid=$(jq -r '.isolation.uid' <<<"$ev")
		[ "$host_uid" != 0 ] && [ "$host_uid" != 1000 ]
		[ "$(stat -c %u "$(out_file s mine)")" != 1000 ]
		jq -e --arg u "$u" --argjson w "[${want// /,}]" \
			'.image.user == {"config": $u, "uid": $w[0], "gid": $w[1]}' <<<"$ev"
	done
}

@test "the image's User for an unprivileged airlock: a namespace nested in the step's, mapped to the user's own uid" {
	[ "$(id -u)" = 0 ] || skip "needs root to become nobody"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	d=$(mktemp -d /tmp/airlock-t4900.XXXXXX)
	chmod 755 "$d"
	mv "$AIRLOCK_HOME" "$d/home"
	export AIRLOCK_HOME=$d/home
	for u in '1000:1000' ''; do
		with_user "$u"
		rm -rf "$d/p" && mkdir -p "$d/p/images"
		image "$d/p/images/base.tar" --format oci
		in_image "$d/p" "$WHO"
		chown -R nobody "$d"
		run setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$AIRLOCK_HOME" \
			"$(command -v airlock)" run --unsigned "$d/p" --date $DATE --force s
		echo "$output"
		[ "$status" -eq 0 ]
		r=$(out_file s result.txt)
		[ "$(head -1 "$r")" = "${u%%:*}" ] || { [ -z "$u" ] && [ "$(head -1 "$r")" = 0 ]; }
		grep -qx 'CapEff:	0000000000000000' "$r"
		grep -qx 'CapBnd:	0000000000000000' "$r"
		run ! grep -q ETC-WRITABLE "$r"
		audit_events '.event == "step.start"' | tail -1 | jq -e --argjson n "$(id -u nobody)" '.isolation.uid == $n'
	done
	rm -rf "$d"
}

@test "network: host in an image: the host's /etc/hosts and resolv.conf, the rest of the image's /etc" {
	[ -f /etc/hosts ] || skip 'this host has no /etc/hosts'
	with_user '1000:1000' '{"path": "etc/hosts", "type": "file", "data": "10.9.9.9 image-only\n"}' \
		'{"path": "etc/resolv.conf", "type": "symlink", "target": "/run/systemd/resolve/stub-resolv.conf"}' \
		'{"path": "etc/image.d", "type": "dir"}' '{"path": "etc/image.d/x", "type": "file", "data": "x\n"}'
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p '{ cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/passwd /etc/image.d/x; } >"$AIRLOCK_OUT/result.txt" 2>&1'
	run -0 airlock run --unsigned p --date $DATE
	r=$(out_file s result.txt)
	# without the network: the image's own files
	grep -qx '10.9.9.9 image-only' "$r"
	grep -q 'resolv.conf: No such file' "$r"
	jq '.steps[0].network = "host"' p/airlock.json >m && mv m p/airlock.json
	run -0 airlock run --unsigned p --date $DATE --force s
	r=$(out_file s result.txt)
	run ! grep -q image-only "$r"
	[ "$(sed -n '1,/^---$/p' "$r" | sed '$d')" = "$(cat /etc/hosts)" ]
	if [ -f /etc/resolv.conf ]; then
		[ "$(sed -n '/^---$/,/^---$/p' "$r" | sed '1d;$d')" = "$(cat /etc/resolv.conf)" ]
	fi
	grep -qx 'user:x:1000:1000:user:/w:/bin/sh' "$r"   # the image's passwd still
	grep -qx x "$r"
}

@test "a root host without user namespaces refuses an image's step before run.start, never runs it as a host uid" {
	[ "$(id -u)" = 0 ] || skip 'the unprivileged case is the view itself (t4800)'
	nouserns=$AIRLOCK_BUILD/tests/nouserns
	[ -x "$nouserns" ] || nouserns=$ROOT_DIR/build/dyn/tests/nouserns
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	run -4 "$nouserns" "$(command -v airlock)" run --unsigned p --date $DATE
	out_has 'step s runs in image base as its User' 'user namespace' 'airlock doctor'
	[ "$(count_events '.event == "run.start"')" = 0 ]
}

@test "the image's User is looked up in the image, never on the host; an unknown one fails the run by name" {
	with_user ghost
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	run -2 airlock run --unsigned p --date $DATE
	out_has 'image base: User' 'no user' 'ghost' "in the image's /etc/passwd"
	# root exists on the host, but a group "daemon" is not in the image
	with_user 'root:daemon'
	image p/images/base.tar --format oci
	run -2 airlock run --unsigned p --date $DATE
	out_has 'no group' 'daemon' "in the image's /etc/group"
	# an /etc/passwd that is a symlink out of the image resolves inside it
	# (the host's /etc/shadow, /etc/passwd are never read)
	with_user 'root' '{"path": "etc/passwd", "type": "symlink", "target": "../../../../../../etc/shadow"}'
	image p/images/base.tar --format oci
	run -2 airlock run --unsigned p --date $DATE
	out_has 'no user' 'root' "in the image's /etc/passwd"
	# a uid and gid need no lookup
	with_user '4242:4343' '{"path": "etc/passwd", "type": "symlink", "target": "/nowhere"}'
	image p/images/base.tar --format oci
	in_image p "$WHO"
	run -0 airlock run --unsigned p --date $DATE --force s
	[ "$(head -2 "$(out_file s result.txt)" | tr '\n' ' ')" = '4242 4343 ' ]
}

@test 'image ls, inspect and prune: who uses an image, and removing the unused, audited' {
	officers
	mkdir -p pipe/images
	image pipe/images/base.tar --format oci --compress gzip
	in_image pipe "$OK"
	signed pipe b.tar.zst
	airlock -q install b.tar.zst
	run -0 airlock image ls
	out_has "${DIGEST:0:19}" 'p/base'
	run -0 airlock image inspect base
	out_has "image      $DIGEST" 'layer 0' 'layer 1' 'used by    p version 1, as base'
	run -0 airlock image inspect --json "${DIGEST#sha256:}"
	echo "$output" | jq -e '.layers | length == 2'
	run -2 airlock image inspect nosuch
	# an unsigned run's image is in the store, used by no installed pipeline
	mkdir -p q/images
	python3 "$TESTS_DIR/fixtures/mkimage.py" --spec "$SPEC" --out q/images/base.tar --format docker --hostile devices >/dev/null 2>&1
	in_image q "$OK"
	run -0 airlock run --unsigned q --date $DATE
	run -0 airlock image ls --json
	echo "$output" | jq -e 'length == 2'
	run -0 airlock image prune --dry-run
	out_has 'would remove'
	run -0 airlock image prune
	run -0 airlock image ls --json
	echo "$output" | jq -e --arg d "$DIGEST" 'length == 1 and .[0].config_digest == $d'
	[ "$(count_events '.event == "image.pruned"')" = 1 ]
}

@test 'prune never removes what a run or an install holds: refused while they run (exit 75), nothing removed' {
	jq '.host += ["/usr/bin/sleep"]' "$SPEC" >spec.json
	SPEC=$PWD/spec.json
	mkdir -p q/images
	image q/images/base.tar --format oci
	in_image q 'sleep 2; echo ok >"$AIRLOCK_OUT/result.txt"'
	airlock -q run --unsigned q --date $DATE &
	pid=$!
	for _ in $(seq 1 200); do
		[ "$(count_events '.event == "step.start"')" -ge 1 ] && break
		sleep 0.05
	done
	# the image is used by no installed pipeline, only by the run
	run -75 airlock image prune
	out_has 'the image store is in use'
	run -0 airlock image prune --dry-run
	out_has 'would remove'
	wait "$pid"
	[ -d "$AIRLOCK_HOME/images/${DIGEST#sha256:}/rootfs" ]
	[ "$(count_events '.event == "image.pruned"')" = 0 ]
	# once the run is over, it goes
	run -0 airlock image prune
	[ ! -e "$AIRLOCK_HOME/images/${DIGEST#sha256:}" ]
	[ "$(count_events '.event == "image.pruned"')" = 1 ]
}

# ---- hostile images ----

# hostile KIND [MKIMAGE-OPTIONS...]: pipeline h/ in image KIND; the run of
# it in $status and $output.
hostile() {
	local kind=$1
	shift
	rm -rf h && mkdir -p h/images
	DIGEST=$(python3 "$TESTS_DIR/fixtures/mkimage.py" --spec "$SPEC" --out h/images/base.tar \
		--hostile "$kind" "$@" 2>/dev/null)
	in_image h 'ls -la /dev /run /bin >"$AIRLOCK_OUT/result.txt" 2>&1; :'
	run airlock run --unsigned h --date $DATE
}

# nothing_made: no image in the store, no partial tree, nothing the
# attacks aim at outside the home.
nothing_made() {
	[ -z "$(find "$AIRLOCK_HOME/images" -mindepth 1 -maxdepth 1 ! -name .lock 2>/dev/null)" ]
	[ ! -e /tmp/escape-absolute ] && [ ! -e ../escape-dotdot ] && [ ! -e /tmp/pwned-symlink ]
	[ ! -e /tmp/pwned-symlink2 ]
}

@test 'refused: bytes that are not their digest, a digest naming another image, a member twice' {
	hostile layer-bytes --format oci --compress gzip
	[ "$status" -eq 3 ] && out_has 'not its digest' && nothing_made
	hostile layer-bytes --format docker
	[ "$status" -eq 3 ] && out_has 'tampered' && nothing_made
	hostile diff-id --format oci
	[ "$status" -eq 3 ] && out_has 'diff_id' && nothing_made
	hostile dup-member --format oci
	[ "$status" -eq 3 ] && out_has 'twice' && nothing_made
	hostile dup-member --format docker
	[ "$status" -eq 3 ] && out_has 'twice' && nothing_made
	hostile dup-json-key --format oci
	[ "$status" -eq 3 ] && out_has 'duplicate' && nothing_made
	hostile missing-blob --format oci
	[ "$status" -eq 3 ] && out_has 'missing' && nothing_made
	hostile platform --format oci
	[ "$status" -eq 3 ] && out_has 'linux/arm64' && nothing_made
	hostile other-digest --format oci
	# the directory's digest is filled from the archive: sign the other one
	in_image h "$OK" "$DIGEST"
	run -3 airlock run --unsigned h --date $DATE
	out_has 'images.base.digest'
}

@test 'refused: ../ and absolute members, a whiteout of .., a 5000-byte path, 1000 levels' {
	hostile dotdot --format oci
	[ "$status" -eq 3 ] && out_has '"..": a path that leaves the image' && nothing_made
	hostile absolute --format docker
	[ "$status" -eq 3 ] && out_has 'an absolute path' && nothing_made
	hostile whiteout-dotdot --format oci
	[ "$status" -eq 3 ] && out_has 'a whiteout of' && nothing_made
	hostile long-path --format oci
	[ "$status" -eq 3 ] && out_has 'a path of' && nothing_made
	# 1000 levels of short names: what would recurse once a level is bounded
	hostile deep-dirs --format oci
	[ "$status" -eq 3 ] && out_has 'more than 128 levels' && nothing_made
}

@test 'refused: writing through a symlink that points out, a hard link to a file outside' {
	mkdir -p /tmp/airlock-t4900-canary
	hostile symlink-out --format oci
	[ "$status" -eq 3 ] && out_has 'nothing is written through it' && nothing_made
	hostile hardlink-out --format oci
	[ "$status" -eq 3 ] && out_has 'leaves the image' && nothing_made
	[ "$(cat /etc/hostname)" != 'pwned' ]
}

@test 'contained: devices, a FIFO and setuid programs are not made; the image still runs' {
	for kind in devices fifo setuid; do
		hostile $kind --format oci
		[ "$status" -eq 0 ]
		root=$AIRLOCK_HOME/images/${DIGEST#sha256:}/rootfs
		[ -z "$(find "$root" \( -type b -o -type c -o -type p -o -type s -o -perm /6000 \) -print)" ]
		audit_events '.event == "image.unpacked"' | tail -1 | jq -e '.skipped | length > 0' >/dev/null
	done
	[ "$(stat -c %a "$root/usr/bin/su-evil")" = 555 ] && [ "$(stat -c %a "$root/usr/bin/sg-evil")" = 555 ]
	run -0 airlock image inspect "$DIGEST"
	out_has 'not made'
}

@test 'refused: a gzip bomb past --max-size, nothing left behind' {
	officers
	rm -rf h && mkdir -p h/images
	python3 "$TESTS_DIR/fixtures/mkimage.py" --spec "$SPEC" --out h/images/base.tar --hostile gzip-bomb \
		--format oci >/dev/null 2>&1
	in_image h "$OK"
	signed h b.tar.zst
	run -3 airlock install b.tar.zst --max-size 64M
	out_has 'more than'
	nothing_made
	[ -z "$(ls -A "$AIRLOCK_HOME/bundles")" ]
	audit_events '.event == "bundle.rejected"' | tail -1 | jq -e '.member == "images/base.tar"'
}

@test '--max-size holds for an image the store has already: the same refusal as a first install' {
	officers
	mkdir -p pipe/images
	image pipe/images/base.tar --format oci
	in_image pipe "$OK"
	signed pipe b.tar.zst
	run -0 airlock install b.tar.zst
	bytes=$(jq -r .unpacked_bytes "$AIRLOCK_HOME/images/${DIGEST#sha256:}/image.json")
	jq '.version = 2' pipe/airlock.json >m && mv m pipe/airlock.json
	signed pipe b2.tar.zst
	# room for the bundle's files (the archive), not for the unpacked tree
	room=$(($(stat -c %s pipe/images/base.tar) + 65536 + bytes / 2))
	run -3 airlock install b2.tar.zst --max-size "$room"
	out_has "unpacks to $bytes bytes, more than"
	run -0 airlock pipelines
	out_has 'version 1'
}

@test 'an image without a WorkingDir: the step works in /airlock/out' {
	jq 'del(.config.WorkingDir)' "$SPEC" >spec.json
	SPEC=$PWD/spec.json
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p 'echo "$PWD" >result.txt'
	run -0 airlock run --unsigned p --date $DATE
	[ "$(cat "$(out_file s result.txt)")" = /airlock/out ]
}

@test 'a signed bundle whose image does not check is rejected at install, audited, nothing installed' {
	officers
	mkdir -p pipe/images
	image pipe/images/base.tar --format oci --compress gzip
	in_image pipe "$OK"
	signed pipe b.tar.zst
	# the image's config digest rewritten in the signed manifest and re-signed:
	# officers signed a digest that is not the archive's image
	stage b.tar.zst
	jq '.images.base.digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"' \
		stage/manifest.json >m && mv m stage/manifest.json
	resign
	# shellcheck disable=SC2046
	retar bad.tar.zst -- $(members)
	run -3 airlock install bad.tar.zst
	out_has 'another image'
	[ -z "$(ls -A "$AIRLOCK_HOME/bundles")" ] && [ ! -e "$AIRLOCK_HOME/pipelines/p" ]
	audit_events '.event == "bundle.rejected"' | tail -1 | jq -e '.reason | test("another image")'
	# a killed install's leftovers are swept by the next one
	mkdir -p "$AIRLOCK_HOME/images/.tmp-999999-x/rootfs"
	run -0 airlock install b.tar.zst
	[ ! -e "$AIRLOCK_HOME/images/.tmp-999999-x" ]
}

@test 'without run, the image Entrypoint and Cmd run, in its WorkingDir, its Env beneath the step env' {
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	jq '.steps[0] |= (del(.run, .outputs) | .env = {"A": "from-the-step"})' p/airlock.json >m && mv m p/airlock.json
	run -0 airlock run --unsigned p --date $DATE
	log=$(ls "$AIRLOCK_HOME"/runs/*/logs/s.1.out)
	grep -qx 'PWD=/w' "$log"
	grep -qx 'A=from-the-step' "$log"
	audit_events '.event == "step.start"' | tail -1 |
		jq -e '.argv == ["/bin/sh", "-c", "cat /etc/passwd; ls /w /data /opaque; id; env"]'
}

@test 'a store tree changed after install is refused at the next run, audited, before run.start' {
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	run -0 airlock run --unsigned p --date $DATE
	root=$AIRLOCK_HOME/images/${DIGEST#sha256:}/rootfs
	starts=$(count_events '.event == "run.start"')
	# each change to the stored tree, undone after
	for change in bytes added mode setuid fifo link removed; do
		case $change in
		bytes) chmod u+w "$root/w/hello.txt"; echo x >>"$root/w/hello.txt"; chmod u-w "$root/w/hello.txt" ;;
		added) chmod u+w "$root/w"; echo evil >"$root/w/planted"; chmod u-w "$root/w" ;;
		mode) chmod u+w "$root/data/keep.txt" ;;
		setuid) chmod u+s "$root/bin/sh" ;;
		fifo) chmod u+w "$root/w"; mkfifo "$root/w/fifo"; chmod u-w "$root/w" ;;
		link) chmod u+w "$root/w"; ln -sfn ../etc/passwd "$root/w/sh-link"; chmod u-w "$root/w" ;;
		removed) chmod u+w "$root/data"; mv "$root/data/keep.txt" keep.txt; chmod u-w "$root/data" ;;
		esac
		run -3 airlock run --unsigned p --date $DATE --force s
		out_has 'image base' 'the tree in the store is not the one installed' "$root"
		[ "$(count_events '.event == "run.start"')" = "$starts" ]
		audit_events '.event == "image.refused"' | tail -1 |
			jq -e --arg d "$DIGEST" '.config_digest == $d and .image == "base" and .tree_sha256 != .installed_tree_sha256'
		case $change in
		bytes) chmod u+w "$root/w/hello.txt"; printf 'hello\n' >"$root/w/hello.txt"; chmod u-w "$root/w/hello.txt" ;;
		added) chmod u+w "$root/w"; rm "$root/w/planted"; chmod u-w "$root/w" ;;
		mode) chmod u-w "$root/data/keep.txt" ;;
		setuid) chmod u-s "$root/bin/sh" ;;
		fifo) chmod u+w "$root/w"; rm "$root/w/fifo"; chmod u-w "$root/w" ;;
		link) chmod u+w "$root/w"; ln -sfn ../bin/sh "$root/w/sh-link"; chmod u-w "$root/w" ;;
		removed) chmod u+w "$root/data"; mv keep.txt "$root/data/keep.txt"; chmod u-w "$root/data" ;;
		esac
		# undone: it runs again
		run -0 airlock run --unsigned p --date $DATE --force s
		starts=$((starts + 1))
	done
	run -0 airlock audit verify --seal-pub seal.pub
}

@test 'manifest errors name the member: an undeclared image, an archive not in the bundle, a bad digest' {
	mkdir -p p/images
	image p/images/base.tar --format oci
	in_image p "$OK"
	jq '.steps[0].image = "nosuch"' p/airlock.json >m && mv m p/airlock.json
	run -2 airlock run --unsigned p --date $DATE
	out_has 'steps[0].image:' 'nosuch' 'is not declared in images'
	in_image p "$OK" sha256:ABC
	run -2 airlock run --unsigned p --date $DATE
	out_has 'images.base.digest:' 'sha256:ABC' 'not sha256:'
	in_image p "$OK"
	jq '.images.base.archive = "images/none.tar"' p/airlock.json >m && mv m p/airlock.json
	run airlock run --unsigned p --date $DATE
	[ "$status" -ne 0 ] && out_has 'images/none.tar'
	# a step without run needs an image that says what to run
	in_image p "$OK"
	jq '.steps[0] |= del(.run, .image)' p/airlock.json >m && mv m p/airlock.json
	run -2 airlock run --unsigned p --date $DATE
	out_has 'steps[0].run: missing'
}

@test 'refused: what two tar or JSON readers would read differently, and a layer compressed twice' {
	# a hard link carrying a body: one reader parses the body as headers
	hostile hardlink-data --format oci
	[ "$status" -eq 3 ] && out_has "bytes after the tar's end" && nothing_made
	# "layers" and "Layers": Go's JSON takes either for the other
	hostile case-keys --format oci
	[ "$status" -eq 3 ] && out_has 'twice but for case' && nothing_made
	# blobs//sha256/H beside blobs/sha256/H: one member, spelled twice
	hostile spelled-twice --format oci
	[ "$status" -eq 3 ] && out_has 'twice' && nothing_made
	# Docker 25's manifest.json naming another image than its index.json
	hostile dual-layout --format docker25
	[ "$status" -eq 3 ] && out_has 'names another image than index.json' && nothing_made
	# gzip inside gzip: a bomb one level deeper
	hostile double-gzip --format oci
	[ "$status" -eq 3 ] && out_has 'compressed more than once' && nothing_made
}

@test 'a full disk while unpacking: exit 4, nothing half-made in the store, the next install works' {
	[ "$(id -u)" = 0 ] || skip 'needs root to mount a small tmpfs'
	mkdir -p p/images "$AIRLOCK_HOME/images"
	image p/images/base.tar --format oci --compress gzip
	in_image p "$OK"
	mount -t tmpfs -o size=1m tmpfs "$AIRLOCK_HOME/images" || skip 'cannot mount a tmpfs here'
	run airlock run --unsigned p --date $DATE
	# what the failed install left, seen before the tmpfs goes (the
	# store's lock file is not an image)
	left=$(find "$AIRLOCK_HOME/images" -mindepth 1 -maxdepth 1 ! -name .lock)
	umount "$AIRLOCK_HOME/images"
	[ "$status" -eq 4 ]
	out_has 'No space left on device'
	[ -z "$left" ]
	[ "$(count_events '.event == "run.start"')" = 0 ]
	run -0 airlock run --unsigned p --date $DATE
}
