#!/usr/bin/env bats
# t7100-systemd: packaging/systemd (airlock@.service, .timer, .path, the
# anchor timer and service, the alert service of OnFailure=) pass
# `systemd-analyze verify` without a word about them and keep every
# hardening directive of DESIGN.md §10; packaging/cron/airlock is a
# well-formed /etc/cron.d file.
#
# systemd-analyze verify needs no running systemd (CI runs in a container
# where systemd is not PID 1); it does need ExecStart='s binary to exist,
# so the units are verified either with ExecStart pointed at the built
# binary, or as shipped in a scratch --root holding the binary at
# /usr/local/bin/airlock and a copy of systemd's own units. It does not
# check that User=airlock exists.
#
# verify also runs man(1) for each Documentation=man: page; the test gives
# it packaging/man through MANPATH.
#
# What counts: a non-zero status, or any line naming our units (airlock@)
# or their files. Noise: lines about other units that verify loads from
# the host as dependencies (a distribution's unit with an unknown key, a
# masked unit in a container): not ours to fix, shown but not failed on.

load ../lib/common

SYSTEMD_DIR=$ROOT_DIR/packaging/systemd
CRON_FILE=$ROOT_DIR/packaging/cron/airlock
INSTANCE=nightly-risk

need_analyze() {
	command -v systemd-analyze >/dev/null ||
		skip "systemd-analyze is not installed (Debian package systemd): units not verified"
	[ -e /lib/systemd/system/sysinit.target ] || [ -e /usr/lib/systemd/system/sysinit.target ] ||
		skip "systemd's own units (sysinit.target) are not installed: verify cannot resolve dependencies"
}

# units DIR: the units in DIR, ExecStart pointed at the built airlock.
units() {
	mkdir -p "$1"
	cp "$SYSTEMD_DIR"/*.service "$SYSTEMD_DIR"/*.timer "$SYSTEMD_DIR"/*.path "$1/"
	sed -i "s#^ExecStart=/usr/local/bin/airlock #ExecStart=$AIRLOCK_BUILD/airlock #" "$1"/*.service
	grep -q "^ExecStart=$AIRLOCK_BUILD/airlock run " "$1/airlock@.service"
}

# findings: the lines of $output that are about our units ($1: their dir).
findings() {
	printf '%s\n' "$output" | grep -E "airlock@|$1" || true
}

# verify_clean DIR ARGS...: systemd-analyze verify ARGS, no finding.
# verify also runs man(1) on each Documentation=man:... page: MANPATH gives
# it the project's pages (packaging/man), not yet installed; without them
# the check is turned off (--man=no) rather than failing on the host.
verify_clean() {
	local dir=$1 page man=--man=no
	shift
	for page in "$ROOT_DIR"/packaging/man/*.[1-8]; do
		[ -f "$page" ] || continue
		mkdir -p "$PWD/man/man${page##*.}"
		cp "$page" "$PWD/man/man${page##*.}/"
		man=--man=yes
	done
	run env MANPATH="$PWD/man" systemd-analyze verify "$man" "$@"
	echo "systemd-analyze verify $man $* -> $status"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(findings "$dir")" ]
}

# directive FILE KEY: the values of KEY= in FILE's non-comment lines, one a line.
directive() {
	awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$1"
}

@test 'the three units pass systemd-analyze verify, instantiated' {
	need_analyze
	units u
	verify_clean "$PWD/u" "u/airlock@$INSTANCE.service" "u/airlock@$INSTANCE.timer" "u/airlock@$INSTANCE.path"
}

@test 'the units as shipped pass systemd-analyze verify --root' {
	need_analyze
	local root=$PWD/root sys
	mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/usr/lib/systemd"
	cp "$SYSTEMD_DIR"/*.service "$SYSTEMD_DIR"/*.timer "$SYSTEMD_DIR"/*.path "$root/etc/systemd/system/"
	cp "$AIRLOCK_BUILD/airlock" "$root/usr/local/bin/airlock"
	sys=/usr/lib/systemd/system
	[ -e $sys/sysinit.target ] || sys=/lib/systemd/system
	cp -a "$sys" "$root/usr/lib/systemd/system"
	verify_clean "$root" --root="$root" "airlock@$INSTANCE.service" "airlock@$INSTANCE.timer" "airlock@$INSTANCE.path" \
		airlock-anchor.service airlock-anchor.timer "airlock-alert@airlock@$INSTANCE.service.service"
}

@test 'the anchor timer and service, and the alert service, pass systemd-analyze verify' {
	need_analyze
	units u
	verify_clean "$PWD/u" u/airlock-anchor.service u/airlock-anchor.timer \
		"u/airlock-alert@airlock@$INSTANCE.service.service"
}

@test 'a failed night or anchor starts airlock alert; the anchor service anchors, then verifies' {
	local a=$SYSTEMD_DIR/airlock-anchor.service
	[ "$(directive "$SYSTEMD_DIR/airlock@.service" OnFailure)" = 'airlock-alert@%n.service' ]
	[ "$(directive "$a" OnFailure)" = 'airlock-alert@%n.service' ]
	[ "$(directive "$a" ExecStart)" = "$(printf '%s\n' '-/usr/local/bin/airlock audit ship --timeout 10min' '/usr/local/bin/airlock audit anchor' '/usr/local/bin/airlock audit verify --strict')" ]
	[ "$(directive "$a" Type)" = oneshot ]
	[ "$(directive "$SYSTEMD_DIR/airlock-anchor.timer" OnCalendar)" = hourly ]
	[ "$(directive "$SYSTEMD_DIR/airlock-alert@.service" ExecStart)" = '/usr/local/bin/airlock alert --unit %i' ]
	# what the alert service runs works: a file, an entry, a metric
	mkhome
	run -0 airlock alert --unit "airlock@$INSTANCE.service"
	f=$(ls home/alerts/*.json)
	[ "$(jq -r '.kind + " " + .unit + " " + .pipeline' "$f")" = "unit-failed airlock@$INSTANCE.service $INSTANCE" ]
	jq -e '.in_audit_log' "$f"
	run -0 jq -r 'select(.event == "alert") | .kind + " " + .failed_unit' home/audit/audit-000001.jsonl
	[ "$output" = "unit-failed airlock@$INSTANCE.service" ]
	grep -qx "airlock_alerts_total{pipeline=\"$INSTANCE\",kind=\"unit-failed\"} 1" home/metrics/airlock.prom
}

@test 'verify is not vacuous: a misspelt directive and a missing binary are findings' {
	need_analyze
	units u
	echo 'ProtectSytem=strict' >>u/airlock@.service
	run systemd-analyze verify --man=no "u/airlock@$INSTANCE.service"
	echo "$output"
	[[ $(findings "$PWD/u") == *"Unknown key"*ProtectSytem* ]]
	units v
	sed -i 's#^ExecStart=[^ ]*#ExecStart=/nonexistent/airlock#' v/airlock@.service
	run systemd-analyze verify --man=no "v/airlock@$INSTANCE.service"
	[ "$status" -ne 0 ]
	[[ $(findings "$PWD/v") == *"/nonexistent/airlock"* ]]
}

@test 'the service keeps every hardening directive' {
	local f=$SYSTEMD_DIR/airlock@.service k v missing=
	while IFS='=' read -r k v; do
		if ! directive "$f" "$k" | grep -qxF -- "$v"; then
			echo "airlock@.service: expected $k=$v, found: $(directive "$f" "$k" | paste -sd '|')"
			missing=1
		fi
	done <<-'EOF'
		Type=exec
		User=airlock
		Environment=AIRLOCK_HOME=/var/lib/airlock
		ExecStart=/usr/local/bin/airlock run $AIRLOCK_RUN_ARGS %i
		ProtectSystem=strict
		ProtectHome=yes
		PrivateTmp=yes
		NoNewPrivileges=yes
		ReadWritePaths=/var/lib/airlock
		CapabilityBoundingSet=
		SystemCallFilter=@system-service
		SystemCallArchitectures=native
		LockPersonality=yes
		MemoryDenyWriteExecute=yes
		RestrictRealtime=yes
		RestrictSUIDSGID=yes
		ProtectKernelTunables=no
		ProtectKernelModules=yes
		ProtectKernelLogs=no
		ProtectControlGroups=no
		Delegate=yes
		ProtectHostname=yes
		ProtectClock=no
		RestrictNamespaces=user mnt pid ipc uts net
		UMask=0077
		KillMode=mixed
		SuccessExitStatus=75
		StandardError=journal
	EOF
	[ -z "$missing" ]
	# ProtectClock=no is deliberate (ProtectClock=yes makes airlock's
	# read-only adjtimex() fail: run.start would record an unsynchronised
	# clock); what it would deny stays denied by the empty bounding set.
	grep -q 'adjtimex' <(directive "$f" SystemCallFilter)
	# a confined step's view is built with the mount API and Landlock
	# (runner/README.md, "Confinement"); ProtectKernelTunables=yes and
	# ProtectKernelLogs=yes would forbid its fresh /proc (t4800 shows it)
	directive "$f" SystemCallFilter | grep -q '@mount sethostname landlock_create_ruleset landlock_add_rule landlock_restrict_self'
	# writable: the home only; other folders come from per-instance drop-ins
	[ "$(directive "$f" ReadWritePaths)" = /var/lib/airlock ]
	# the stop timeout exceeds airlock's 10 s kill grace
	v=$(directive "$f" TimeoutStopSec)
	[[ $v =~ ^([0-9]+)s$ ]] && [ "${BASH_REMATCH[1]}" -gt 10 ]
	# the reasons are written down beside the directives
	[ "$(grep -c '^#' "$f")" -gt 40 ]
}

@test 'the timer and the path unit start airlock@%i.service' {
	local t=$SYSTEMD_DIR/airlock@.timer p=$SYSTEMD_DIR/airlock@.path
	[ "$(directive "$t" Unit)" = 'airlock@%i.service' ]
	[ "$(directive "$t" Persistent)" = true ]
	[ -n "$(directive "$t" RandomizedDelaySec)" ]
	[ "$(directive "$t" OnCalendar)" = '*-*-* 02:30:00 UTC' ]
	[ "$(directive "$p" Unit)" = 'airlock@%i.service' ]
	directive "$p" PathChanged | grep -q '%i'
	# PathExists= would restart the run in a loop while the marker stays
	[ -z "$(directive "$p" PathExists)" ]
	grep -qx 'WantedBy=timers.target' "$t"
	grep -qx 'WantedBy=paths.target' "$p"
}

@test 'systemd-analyze security rates the service (informational)' {
	need_analyze
	units u
	run systemd-analyze security --offline=yes "u/airlock@$INSTANCE.service"
	[ "$status" -eq 0 ] || skip "systemd-analyze security --offline is not available here"
	local score
	score=$(printf '%s\n' "$output" | grep 'Overall exposure level' || true)
	echo "# ${score:-no score printed}" >&3
}

@test 'the cron file has 5 time fields, the user airlock and a command' {
	[ -f "$CRON_FILE" ]
	# a job line: 5 time fields, a user, a command; env lines NAME=value;
	# commented example jobs ("# 30 2 ...") are checked too; no unescaped %
	run awk '
		function check(line, n, f, i) {
			n = split(line, f, /[ \t]+/)
			if (n < 7) { print "line " NR ": fewer than 7 fields"; bad = 1; return }
			for (i = 1; i <= 5; i++)
				if (f[i] !~ /^(\*|[0-9]+(-[0-9]+)?)(\/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(\/[0-9]+)?)*$/) {
					print "line " NR ": time field " i " is \"" f[i] "\""; bad = 1
				}
			if (f[6] != "airlock") { print "line " NR ": user is \"" f[6] "\""; bad = 1 }
			if (line !~ /airlock run [a-z0-9][a-z0-9_-]*/) { print "line " NR ": no airlock run PIPELINE"; bad = 1 }
			if (line ~ /(^|[^\\])%/) { print "line " NR ": unescaped %"; bad = 1 }
			jobs++
		}
		/^[ \t]*$/ { next }
		/^# [0-9*][^ ]* [^ ]+ [^ ]+ [^ ]+ [^ ]+ airlock / { sub(/^# /, ""); check($0); examples++; next }
		/^#/ { next }
		/^[A-Za-z_][A-Za-z0-9_]*=/ { env[substr($0, 1, index($0, "=") - 1)] = 1; next }
		{ check($0); active++ }
		END {
			if (!active) { print "no active job line"; bad = 1 }
			if (!("AIRLOCK_HOME" in env)) { print "AIRLOCK_HOME is not set"; bad = 1 }
			printf "%d active, %d example job lines\n", active, examples
			exit bad
		}' "$CRON_FILE"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'AIRLOCK_HOME=/var/lib/airlock' "$CRON_FILE"
	# no flock(1) wrapper: airlock locks itself (exit 75)
	run -1 grep -E '^[^#].*flock' "$CRON_FILE"
}

@test 'the cron command logs airlock output and its exit status, 75 included' {
	local cmd
	cmd=$(grep -m1 -E '^[0-9*]' "$CRON_FILE" | cut -d' ' -f7-)
	mkdir bin
	# stand-ins: an airlock that finds the lock held, a logger that tags lines
	cat >bin/airlock <<-'SH'
		#!/bin/sh
		echo "airlock: pipeline $2 is running already" >&2
		exit 75
	SH
	cat >bin/logger <<-'SH'
		#!/bin/sh
		sed "s/^/[$2] /"
	SH
	chmod +x bin/airlock bin/logger
	run env PATH="$PWD/bin:/usr/bin:/bin" sh -c "$cmd"
	echo "$output"
	[ "$status" -eq 0 ]
	out_has "[airlock-nightly-risk] airlock: pipeline nightly-risk is running already" "[airlock-nightly-risk] exit 75"
}
