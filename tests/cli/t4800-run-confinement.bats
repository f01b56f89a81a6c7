#!/usr/bin/env bats
# t4800-run-confinement: a hostile step (runner/README.md, "Confinement";
# QUEUE.md, "The in-step view"). Each test is an attack a step's code
# could make on the audit log, the keys, other pipelines or the host,
# and checks that it fails and that the evidence says what the step got.
# Run as root (the step is then another uid) and, where it says so, as an
# unprivileged user (the step is then in a user namespace).

load ../lib/common
load ../fixtures/run

DATE=2026-11-25

setup() {
	common_setup
	mkhome
	mkdir -p p/bin
	cp "$(helper_path hostile)" p/bin/hostile
	# another pipeline's committed output, somewhere in the same home
	mkdir -p "$AIRLOCK_HOME/outputs/other/$DATE/x"
	echo 'other pipeline' >"$AIRLOCK_HOME/outputs/other/$DATE/x/secret.csv"
}

teardown() {
	pkill -KILL -f 'sleep 300.48' || true
}

helper_path() {
	local h=$AIRLOCK_BUILD/tests/$1
	[ -x "$h" ] || h=$ROOT_DIR/build/dyn/tests/$1
	printf '%s' "$h"
}

# nobody_home: as root, a directory $d that nobody can reach, holding the
# home (moved there): for the runs as an unprivileged user. Skips the test
# where that cannot be.
nobody_home() {
	[ "$(id -u)" = 0 ] || skip "needs root to become nobody"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	d=$(mktemp -d /tmp/airlock-t4800.XXXXXX)
	chmod 755 "$d"
	mv "$AIRLOCK_HOME" "$d/home"
	export AIRLOCK_HOME=$d/home
}

# one JSON-FIELDS: a one-step pipeline whose step "s" has FIELDS.
one() {
	steps p p "[{\"id\": \"s\", $1}]"
}

# attempt SCRIPT: runs SCRIPT as the step (sh -c), outputs in result.txt.
attempt() {
	one "\"run\": [\"sh\", \"-c\", $(jq -Rn --arg s "$1" '$s')], \"outputs\": [{\"path\": \"result.txt\"}]"
	run -0 airlock run --unsigned p --date "${2:-$DATE}"
	result=$(cat "$(out_file s result.txt "${2:-$DATE}")")
}

@test 'the airlock home is out of view: the seal key, host.key, state.db, the log' {
	attempt "for f in $AIRLOCK_HOME/audit/fss.key $AIRLOCK_HOME/host.key $AIRLOCK_HOME/state.db \
$AIRLOCK_HOME/audit/audit-000001.jsonl; do cat \$f >/dev/null 2>&1 && echo READ \$f; done
find / -xdev \\( -name fss.key -o -name host.key -o -name 'audit-0*' -o -name state.db \\) 2>/dev/null | sed 's/^/FOUND /'
echo done >>result.txt
ls / >>result.txt"
	[[ $result != *READ* ]]
	[[ $result != *FOUND* ]]
	[[ $result == *done* ]]
	# the view's top: the host's system directories, the step's own
	run ! grep -qx root <<<"$result"
	run ! grep -qx home <<<"$result"
}

@test 'a step cannot append to the audit log, and the log stays intact' {
	attempt "echo '{\"seq\":999,\"event\":\"forged\"}' >>$AIRLOCK_HOME/audit/audit-000001.jsonl 2>/dev/null && echo APPENDED; echo tried >result.txt"
	[ "$result" = tried ]
	[ "$(count_events '.event == "forged"')" = 0 ]
	run -0 airlock audit verify --seal-pub seal.pub
}

@test "a step cannot read another pipeline's outputs, nor its own past ones by host path" {
	attempt "cat $AIRLOCK_HOME/outputs/other/$DATE/x/secret.csv >result.txt 2>&1 || echo refused >result.txt"
	[ "$result" = refused ]
	# what it can read of other steps is what it names: /airlock/in/STEP/FILE
	steps p p '[{"id": "a", "run": ["sh", "-c", "echo a >a.txt"], "outputs": [{"path": "a.txt"}]},
	            {"id": "b", "needs": ["a"], "run": ["sh", "-c", "ls -R /airlock/in >result.txt; cat $1 >>result.txt", "x", "a:a.txt"], "outputs": [{"path": "result.txt"}]}]'
	run -0 airlock run --unsigned p --date 2026-11-26
	grep -qx a "$(out_file b result.txt 2026-11-26)"
	run ! grep -q other "$(out_file b result.txt 2026-11-26)"
}

@test 'a step writes only to /airlock/out and /tmp: not /etc, /usr, its bundle, its inputs, /' {
	attempt 'for d in /etc /usr /bin /airlock/bundle /airlock /dev /proc / /var /root; do
  touch "$d/x.$$" 2>/dev/null && echo "WROTE $d"
done
chmod 666 /etc/passwd 2>/dev/null && echo "CHMOD /etc/passwd"
rm -f /etc/passwd 2>/dev/null && echo "RM /etc/passwd"
touch /tmp/x && touch /airlock/out/y && echo ok >result.txt'
	[ "$result" = ok ]
	run ! grep -q WROTE "$(out_file s result.txt)"
	# nothing reached the host's directories
	for d in /etc /usr /bin / /var /root; do
		run ! compgen -G "$d/x.*"
	done
}

@test 'no mount, ptrace, new user namespace, bpf, clock, keyring, module, reboot, io_uring' {
	one '"run": ["sh", "-c", "hostile mount umount ptrace unshare-user clone-newuser clone3 setns bpf settime settimeofday keyctl add-key init-module kexec reboot io-uring userfaultfd open-by-handle chroot fsopen perf >result.txt"], "outputs": [{"path": "result.txt"}]'
	run -0 airlock run --unsigned p --date $DATE
	f=$(out_file s result.txt)
	cat "$f"
	for what in mount umount ptrace unshare-user clone-newuser setns bpf settime settimeofday \
		keyctl add-key init-module kexec reboot io-uring userfaultfd open-by-handle chroot fsopen perf; do
		grep -Eq "^$what: (EPERM|EACCES|ENOSYS)$" "$f"
	done
	# clone3 cannot be filtered by its flags: it is not there at all
	grep -qx 'clone3: ENOSYS' "$f"
}

@test 'a system call newer than the filter knows (open_tree_attr, 467; 500) gets ENOSYS: the filter fails closed' {
	one '"run": ["sh", "-c", "hostile nr:467 nr:500 nr:39 >result.txt"], "outputs": [{"path": "result.txt"}]'
	run -0 airlock run --unsigned p --date $DATE
	f=$(out_file s result.txt)
	cat "$f"
	grep -qx 'nr:467: ENOSYS' "$f"
	grep -qx 'nr:500: ENOSYS' "$f"
	# getpid, an old call, still answers
	grep -qx 'nr:39: ok' "$f"
}

@test 'a widened system call is given by name only; an unknown name refuses the run' {
	one '"run": ["bin/hostile", "personality"], "syscalls": ["personality"]'
	run -0 airlock run --unsigned p --date $DATE
	run -0 airlock logs "$(airlock --json status | jq -r .run)" s
	out_has "personality: ok"
	audit_events '.event == "step.start"' | jq -e '.isolation.syscalls == ["personality"]'
	one '"run": ["true"], "syscalls": ["getpid"]'
	run -2 airlock run --unsigned p --date 2026-11-26
	out_has 'step s: syscalls' "getpid" "is not on airlock's deny list"
	one '"run": ["true"], "syscalls": ["no_such_call"]'
	run -2 airlock run --unsigned p --date 2026-11-26
	out_has "no_such_call" "is not a system call"
	# the walls of the view and the kernel's own code: never, whoever signs
	for c in unshare mount setns kexec_load bpf open_by_handle_at; do
		one "\"run\": [\"true\"], \"syscalls\": [\"$c\"]"
		run -2 airlock run --unsigned p --date 2026-11-26
		out_has "$c" "is never allowed to a step"
	done
	[ "$(count_events '.event == "run.start"')" = 1 ]
}

@test 'a step sees only its own processes, and all of them die with it' {
	attempt 'ls /proc | grep -c "^[0-9]" >result.txt
kill -0 1 2>/dev/null && echo init-visible >>result.txt
cat /proc/1/environ >/dev/null 2>&1 && echo ENVIRON >>result.txt
(setsid sleep 300.48 &) ; nohup sleep 300.48 >/dev/null 2>&1 &
echo $$ >>result.txt'
	# its shell is pid 2 (the init is 1, and hidden)
	[ "$(sed -n 1p <<<"$result")" -le 3 ]
	[ "$(tail -1 <<<"$result")" = 2 ]
	run ! grep -q ENVIRON <<<"$result"
	run ! pgrep -f 'sleep 300.48'
}

@test 'as root, a step runs as another uid, and step.start says which and what it got' {
	[ "$(id -u)" = 0 ] || skip "needs root"
	attempt 'id -u >result.txt; id -g >>result.txt; grep -E "^(NoNewPrivs|CapEff|Seccomp):" /proc/self/status >>result.txt'
	uid=$(sed -n 1p <<<"$result")
	[ "$uid" != 0 ]
	[ "$uid" != "$(stat -c %u "$AIRLOCK_HOME")" ]
	grep -q 'NoNewPrivs:.1' <<<"$result"
	grep -q 'CapEff:.0000000000000000' <<<"$result"
	grep -q 'Seccomp:.2' <<<"$result"
	audit_events '.event == "step.start"' | jq -e --argjson u "$uid" '.isolation | .confined and .mountns and .pidns and .netns and .seccomp and .landlock > 0 and .uid == $u and (.userns | not)'
	# and it is never root nor the home's owner, whatever is asked
	run -2 airlock run --unsigned p --date 2026-11-26 --step-user 0
	out_has "--step-user 0: a user name or UID[:GID], not root"
	run -2 airlock run --unsigned p --date 2026-11-26 --step-user root
	out_has "never root"
}

@test '/tmp is its own and size-limited; a symlink, FIFO or hard link left in /airlock/out is never followed' {
	attempt 'dd if=/dev/zero of=/tmp/big bs=1M count=100 2>/dev/null; echo $? >result.txt; ls -l /tmp/big | cut -d" " -f5 >>result.txt
ln /airlock/bundle/bin/hostile hl 2>/dev/null && echo HARDLINK >>result.txt; true'
	[ "$(sed -n 1p <<<"$result")" != 0 ]
	[ "$(sed -n 2p <<<"$result")" -le $((64 * 1024 * 1024)) ]
	run ! grep -q HARDLINK <<<"$result"
	one '"run": ["sh", "-c", "ln -s /etc/shadow leak; echo x >result.txt"], "outputs": [{"path": "result.txt"}], "retries": {"max": 0}'
	run -1 airlock run --unsigned p --date 2026-11-26
	audit_events '.event == "step.end"' | tail -1 | jq -e '.reason | contains("leak: not a regular file")'
	one '"run": ["sh", "-c", "mkfifo pipe; echo x >result.txt"], "outputs": [{"path": "result.txt"}], "retries": {"max": 0}'
	run -1 airlock run --unsigned p --date 2026-11-27
	audit_events '.event == "step.end"' | tail -1 | jq -e '.reason | contains("pipe: not a regular file")'
}

@test 'a setuid or writable output is committed read-only, without its setuid bit' {
	attempt 'cp /airlock/bundle/bin/hostile prog; chmod 4777 prog; echo x >result.txt; chmod 666 result.txt'
	[ "$(stat -c %a "$(out_file s prog)")" = 555 ]
	[ "$(stat -c %a "$(out_file s result.txt)")" = 444 ]
}

@test 'network: none has only its own loopback; network: host has the host' {
	attempt 'ls /sys/class/net 2>/dev/null; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " >result.txt'
	[ "$result" = lo ]
	one '"run": ["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \" >result.txt"], "network": "host", "outputs": [{"path": "result.txt"}]'
	run -0 airlock run --unsigned p --date 2026-11-26
	[ "$(wc -l <"$(out_file s result.txt 2026-11-26)")" -ge "$(tail -n +3 /proc/net/dev | wc -l)" ]
	audit_events '.event == "step.start"' | tail -1 | jq -e '.isolation.netns == false'
}

@test 'a declared mount: rw where it says rw, read-only where ro, nothing else of the host' {
	mkdir -p drop outbox
	chmod 777 outbox
	echo in >drop/in.csv
	one "\"run\": [\"sh\", \"-c\", \"cat /airlock/mnt/drop/in.csv >result.txt; echo out >/airlock/mnt/outbox/sent; touch /airlock/mnt/drop/x 2>/dev/null && echo DROPWRITE >>result.txt; ls $PWD >/dev/null 2>&1 && echo HOSTDIR >>result.txt; true\"], \"outputs\": [{\"path\": \"result.txt\"}],
	     \"mounts\": [{\"host\": \"$PWD/drop\", \"at\": \"/airlock/mnt/drop\", \"mode\": \"ro\"}, {\"host\": \"$PWD/outbox\", \"at\": \"/airlock/mnt/outbox\", \"mode\": \"rw\"}]"
	run -0 airlock run --unsigned p --date $DATE
	[ "$(cat "$(out_file s result.txt)")" = in ]
	[ "$(cat outbox/sent)" = out ]
	[ ! -e drop/x ]
	audit_events '.event == "step.start"' | jq -e --arg d "$PWD/drop" '.isolation.mounts[0] == {"host": $d, "at": "/airlock/mnt/drop", "mode": "ro"}'
}

@test 'a mount outside /airlock/mnt, or over another, is a manifest error' {
	one '"run": ["true"], "mounts": [{"host": "/etc", "at": "/airlock/bundle", "mode": "rw"}]'
	run -2 airlock run --unsigned p --date $DATE
	out_has 'steps[0].mounts[0].at' '/airlock/bundle' 'a normalised path under /airlock/mnt/'
	one '"run": ["true"], "mounts": [{"host": "/srv", "at": "/airlock/mnt/a/../../bundle", "mode": "ro"}]'
	run -2 airlock run --unsigned p --date $DATE
	out_has "steps[0].mounts[0].at" "/airlock/mnt/a/../../bundle"
	one '"run": ["true"], "mounts": [{"host": "/srv", "at": "/airlock/mnt/a", "mode": "ro"}, {"host": "/tmp", "at": "/airlock/mnt/a/b", "mode": "rw"}]'
	run -2 airlock run --unsigned p --date $DATE
	out_has "at or inside mounts[0]"
	one '"run": ["true"], "mounts": [{"host": "etc", "at": "/airlock/mnt/a", "mode": "ro"}]'
	run -2 airlock run --unsigned p --date $DATE
	out_has "an absolute, normalised path"
	[ "$(count_events '.event == "run.start"')" = 0 ]
}

@test 'a mount or a secret never brings the airlock home into view: not /, not the home, nothing in it' {
	ln -s "$AIRLOCK_HOME" homelink
	for host in / "$AIRLOCK_HOME" "$AIRLOCK_HOME/audit" "$PWD/homelink" "$(dirname "$AIRLOCK_HOME")"; do
		one "\"run\": [\"true\"], \"mounts\": [{\"host\": \"$host\", \"at\": \"/airlock/mnt/h\", \"mode\": \"rw\"}]"
		run -2 airlock run --unsigned p --date $DATE
		out_has "step s: mounts[0].host" "the airlock home"
	done
	[ "$(count_events '.event == "run.start"')" = 0 ]
	# a key of airlock's, named as a step's secret: owned by airlock, 0600,
	# exactly what the secrets check asks of a secret
	for key in "$AIRLOCK_HOME/host.key" "$AIRLOCK_HOME/audit/fss.key" "$PWD/homelink/host.key"; do
		one '"run": ["sh", "-c", "cat /airlock/secrets/k"], "secrets": ["k"]'
		jq --arg k "$key" '.secrets = {"k": {"file": $k}}' p/airlock.json >m.json && mv m.json p/airlock.json
		run -1 airlock run --unsigned p --date $DATE
		out_has "secret k" "inside the airlock home"
	done
	[ "$(count_events '.event == "step.start"')" = 0 ]
}

@test "a step's init holds none of airlock's descriptors: not the log, state.db, a lock" {
	one '"run": ["sh", "-c", "sleep 30.4801 & touch /airlock/mnt/ctl/started; wait"], '"$(ctl_mount)"
	airlock run --unsigned p --date $DATE 2>/dev/null &
	run_pid=$!
	for _ in $(seq 100); do [ -e ctl/started ] && break; sleep 0.1; done
	[ -e ctl/started ]
	# sleep's parent is the step's shell; the shell's is the init
	sleep_pid=$(pgrep -f '^sleep 30.4801')
	shell_pid=$(ps -o ppid= -p "$sleep_pid" | tr -d ' ')
	init_pid=$(ps -o ppid= -p "$shell_pid" | tr -d ' ')
	[ "$(ps -o ppid= -p "$init_pid" | tr -d ' ')" = "$run_pid" ]
	fds=$(ls -l "/proc/$init_pid/fd" | awk 'NR > 1 {print $NF}')
	echo "$fds"
	kill -TERM "$run_pid"
	wait "$run_pid" || true
	run ! grep -E "$AIRLOCK_HOME|jsonl|state.db|lock" <<<"$fds"
	# airlock's own stdio (0-2), the step's three, its pipes to airlock
	run ! grep -vE '^(pipe:|/dev/null$|/tmp/)' <<<"$fds"
}

@test 'as root started with securebits that keep capabilities, the step refuses to start' {
	[ "$(id -u)" = 0 ] || skip "needs root"
	one '"run": ["sh", "-c", "grep CapEff /proc/self/status >result.txt"], "outputs": [{"path": "result.txt"}], "retries": {"max": 0}'
	run setpriv --securebits +no_setuid_fixup -- "$(command -v airlock)" run --unsigned p --date $DATE
	[ "$status" -ne 0 ]
	out_has "still holds capabilities"
	[ "$(count_events '.event == "step.end" and .status == "ok"')" = 0 ]
}

@test "a notify step's stdin is a sealed copy of the run's summary, never the logs' file" {
	steps p p '[{"id": "a", "run": ["true"]},
	  {"id": "tell", "kind": "notify", "needs": ["a"], "run": ["sh", "-c", "readlink /proc/self/fd/0 >/airlock/mnt/ctl/link; echo forged 2>/dev/null >/proc/self/fd/0 && echo WROTE >>/airlock/mnt/ctl/link; cat >/airlock/mnt/ctl/got"], '"$(ctl_mount)"'}]'
	run -0 airlock run --unsigned p --date $DATE
	cat ctl/link
	grep -q '^/memfd:airlock-stdin' ctl/link
	run ! grep -q WROTE ctl/link
	jq -e '.steps' ctl/got >/dev/null
	f=$(find "$AIRLOCK_HOME" -name '*.summary.json' | head -1)
	[ -n "$f" ]
	cmp "$f" ctl/got
}

@test 'built-in kinds run as airlock itself, unconfined, and step.start says so' {
	mkdir -p drop
	touch drop/_SUCCESS
	steps p p "[{\"id\": \"in\", \"kind\": \"await\", \"path\": \"$PWD/drop\", \"poll\": {\"every\": \"1s\"}, \"timeout\": \"20s\"}]"
	run -0 airlock run --unsigned p --date $DATE
	audit_events '.event == "step.start"' | jq -e '.isolation.confined == false and (.isolation.why | contains("the await kind"))'
}

@test 'the same escapes fail for an unprivileged user, whose steps are in a user namespace' {
	nobody_home
	mkdir -p "$d/p/bin"
	cp "$(helper_path hostile)" "$d/p/bin/hostile"
	steps "$d/p" p "[{\"id\": \"s\", \"run\": [\"sh\", \"-c\", \"id -u >result.txt; cat $d/home/audit/fss.key >>result.txt 2>&1 || echo no-key >>result.txt; echo x >>$d/home/audit/audit-000001.jsonl 2>/dev/null || echo no-append >>result.txt; hostile mount ptrace unshare-user >>result.txt; ls /proc | grep -c '^[0-9]' >>result.txt; ls /proc/1 >/dev/null 2>&1 && echo INIT-VISIBLE >>result.txt; true\"], \"outputs\": [{\"path\": \"result.txt\"}]}]"
	chown -R nobody "$d"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$AIRLOCK_HOME" "$(command -v airlock)" run --unsigned "$d/p" --date $DATE
	echo "$output"
	[ "$status" -eq 0 ]
	f=$(out_file s result.txt)
	cat "$f"
	[ "$(sed -n 1p "$f")" = "$(id -u nobody)" ]
	grep -qx no-key "$f"
	grep -qx no-append "$f"
	grep -Eqx 'mount: (EPERM|EACCES)' "$f"
	grep -Eqx 'ptrace: (EPERM|EACCES)' "$f"
	grep -Eqx 'unshare-user: (EPERM|EACCES)' "$f"
	# its init (airlock's code, of its uid) is out of its sight
	run ! grep -q INIT-VISIBLE "$f"
	audit_events '.event == "step.start"' | jq -e '.isolation | .confined and .userns and .mountns and .pidns and .seccomp'
	rm -rf "$d"
}

@test 'strict refuses to run where the host cannot give every layer; default runs, and says what it lacked' {
	nobody_home
	steps "$d/p" p '[{"id": "s", "run": ["sh", "-c", "echo ran >result.txt"], "outputs": [{"path": "result.txt"}], "network": "host", "isolation": "strict"}]'
	chown -R nobody "$d"
	# a host without user namespaces: unshare(CLONE_NEWUSER) refused by a
	# seccomp filter, as a container profile or AppArmor would
	as_nobody() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$AIRLOCK_HOME" \
			"$(helper_path nouserns)" "$(command -v airlock)" "$@"
	}
	run -4 as_nobody run --unsigned "$d/p" --date $DATE
	out_has "step s: isolation strict: this host cannot confine it: no userns"
	[ "$(count_events '.event == "step.start"')" = 0 ]
	run -0 as_nobody doctor
	out_has "NOT confined" "userns    no   unshare(CLONE_NEWUSER): Operation not permitted"
	# without strict it runs, unconfined, and the evidence says why
	sed -i 's/"isolation": "strict"/"isolation": "default"/' "$d/p/airlock.json"
	run -0 as_nobody run --unsigned "$d/p" --date $DATE
	audit_events '.event == "step.start"' | jq -e '.isolation.confined == false and (.isolation.why | contains("no userns"))'
	rm -rf "$d"
}

@test 'airlock doctor says what this host gives' {
	run -0 airlock doctor
	out_has "steps here:" "mountns" "seccomp" "landlock"
	run -0 airlock --json doctor
	echo "$output" | jq -e '.layers | has("userns") and has("cgroup") and has("netns")'
}

@test 'a host /proc with covered parts (systemd ProtectKernelTunables=): steps run unconfined and say why; strict refuses' {
	[ "$(id -u)" = 0 ] || skip "needs root to cover /proc/sys and become nobody"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	command -v unshare >/dev/null || skip "no unshare"
	d=$(mktemp -d /tmp/airlock-t4800.XXXXXX)
	chmod 755 "$d"
	mv "$AIRLOCK_HOME" "$d/home"
	export AIRLOCK_HOME=$d/home
	steps "$d/p" p '[{"id": "s", "run": ["sh", "-c", "echo ran >result.txt"], "outputs": [{"path": "result.txt"}], "network": "host", "isolation": "strict"}]'
	chown -R nobody "$d"
	# what ProtectKernelTunables=yes does: /proc/sys covered read-only; in
	# the unprivileged user's own namespaces that cover is locked, and Linux
	# refuses a fresh /proc there
	covered() {
		unshare -m --propagation private sh -c 'mount --bind -o ro /proc/sys /proc/sys && exec "$@"' sh \
			setpriv --reuid=nobody --regid=nogroup --clear-groups -- env AIRLOCK_HOME="$AIRLOCK_HOME" \
			"$(command -v airlock)" "$@"
	}
	run -4 covered run --unsigned "$d/p" --date $DATE
	out_has "step s: isolation strict: this host cannot confine it: no mountns: a fresh /proc"
	run -0 covered doctor
	out_has "ProtectKernelTunables"
	sed -i 's/"isolation": "strict"/"isolation": "default"/' "$d/p/airlock.json"
	run -0 covered run --unsigned "$d/p" --date $DATE
	audit_events '.event == "step.start"' | jq -e '.isolation.confined == false and (.isolation.why | contains("a fresh /proc"))'
	rm -rf "$d"
}

@test 'cgroup limits hold for what rlimits cannot see (where controllers are delegated)' {
	airlock --json doctor | jq -e '.layers.cgroup.limits | index("memory")' >/dev/null ||
		skip "no memory controller delegated here: $(airlock doctor | grep '^ *cgroup')"
	# 48M into /dev/shm: no address space (RLIMIT_AS does not see it), but
	# the step's cgroup is charged for it, and its memory.max is 32M
	one '"run": ["sh", "-c", "head -c 48M /dev/zero >/dev/shm/x && echo survived >result.txt"], "outputs": [{"path": "result.txt"}], "limits": {"memory": "32M", "procs": 100, "cpus": 0.5}'
	run airlock run --unsigned p --date $DATE
	[ "$status" -ne 0 ]
	audit_events '.event == "step.start"' | jq -e '.isolation.cgroup_limits | index("memory")'
	audit_events '.event == "step.end"' | jq -e '.status != "ok"'
}
