#!/usr/bin/env bats
# t3000-manifest: airlock.json is validated completely by pack; every error
# names its field by JSON path; the JSON Schema agrees on good manifests.

load ../lib/common
load ../fixtures/bundle

setup() {
	common_setup
	mkpipe pipe
}

# edit JQ: apply a jq filter to pipe/airlock.json
edit() {
	jq "$1" pipe/airlock.json >a.json && mv a.json pipe/airlock.json
}

# refused MESSAGE...: pack fails with exit 2 and these words
refused() {
	run -2 airlock pack pipe -o b.tar.zst
	out_has "pipe/airlock.json: " "$@"
	[ ! -e b.tar.zst ]
}

@test 'a valid pipeline packs' {
	run -0 airlock pack pipe -o b.tar.zst
	out_has "manifest "
}

@test 'unknown fields are errors, at any depth' {
	edit '.retriez = 1'
	refused "retriez: unknown field"
	mkpipe pipe && edit '.steps[1].retries = {"max": 1, "bsae": "1s"}'
	refused "steps[1].retries.bsae: unknown field"
	mkpipe pipe && edit '.steps[0].pth = "x"'
	refused "steps[0].pth: unknown field for a step of kind exec"
}

@test 'durations name the field and the bad value' {
	edit '.steps[1].retries = {"cap": "32x"}'
	refused 'steps[1].retries.cap: "32x": not a duration'
	mkpipe pipe && edit '.defaults.timeout = "5 m"'
	refused 'defaults.timeout: "5 m": not a duration'
	mkpipe pipe && edit '.steps[0].retries = {"base": "10s", "cap": "1s"}'
	refused 'steps[0].retries.cap: smaller than base'
}

@test 'required fields and their forms' {
	edit 'del(.expires)'
	refused "expires: missing"
	mkpipe pipe && edit '.version = 0'
	refused "version: must be an integer from 1"
	mkpipe pipe && edit '.pipeline = "Bad Name"'
	refused 'pipeline: "Bad Name": not a pipeline name'
	mkpipe pipe && edit '.format = "airlock.manifest/2"'
	refused 'format: "airlock.manifest/2"'
	mkpipe pipe && edit '.expires = "next year"'
	refused 'expires: "next year": not an RFC 3339 time'
	mkpipe pipe && edit '.steps = []'
	refused "steps: must be an array of 1 to 10000 steps"
	mkpipe pipe && edit '.created = "2026-01-01T00:00:00Z"'
	refused "created: set by airlock pack"
	mkpipe pipe && edit '.files = []'
	refused "files: filled by airlock pack"
}

@test 'the DAG: needs name earlier steps, once' {
	edit '.steps[0].needs = ["count"]'
	refused 'steps[0].needs[0]: "count" is not a step declared before this one'
	mkpipe pipe && edit '.steps[1].needs = ["hello", "hello"]'
	refused 'steps[1].needs[1]: "hello" is listed twice'
	mkpipe pipe && edit '.steps[1].id = "hello"'
	refused 'steps[1].id: "hello": the id of steps[0] already'
}

@test 'step:file must name a step this one depends on' {
	edit 'del(.steps[1].needs)'
	refused 'steps[1].run[1]: "hello:out.txt": step hello is not among this step'
	mkpipe pipe && edit '.steps[1].run[1] = "hello:../etc/passwd"'
	refused 'steps[1].run[1]: "hello:../etc/passwd": not a file of step hello'
}

@test 'bundle programs must exist and be executable' {
	edit '.steps[0].run[0] = "bin/nope"'
	refused 'steps[0].run[0]: "bin/nope": not a file of this bundle'
	mkpipe pipe && chmod 644 pipe/bin/hello
	refused 'steps[0].run[0]: "bin/hello": the bundle' 'file is not executable'
}

@test 'a skipped step that three steps depend on is an error' {
	edit '.steps[0].on_failure = "skip" | .steps += [{"id": "c", "needs": ["count"], "run": ["true"]}, {"id": "d", "needs": ["c"], "run": ["true"]}]'
	refused 'steps[0].on_failure: "skip" but 3 steps depend on hello (count, c, d)'
	mkpipe pipe && edit '.defaults.on_failure = "skip" | .steps += [{"id": "c", "needs": ["count"], "run": ["true"]}, {"id": "d", "needs": ["c"], "run": ["true"]}]'
	refused 'defaults.on_failure (for steps[0]): "skip"'
	# two dependants are fine
	mkpipe pipe && edit '.steps[0].on_failure = "skip" | .steps += [{"id": "c", "needs": ["count"], "run": ["true"]}]'
	run -0 airlock pack pipe -o b.tar.zst
}

@test 'env, secrets, resources, limits, outputs and kinds are checked' {
	edit '.steps[0].env = {"LD_PRELOAD": "x"}'
	refused "steps[0].env.LD_PRELOAD: not a name a step may set"
	mkpipe pipe && edit '.steps[0].secrets = ["token"]'
	refused 'steps[0].secrets[0]: "token" is not declared in secrets'
	mkpipe pipe && edit '.secrets = {"token": {"file": "relative"}}'
	refused 'secrets.token.file: "relative": must be an absolute path'
	mkpipe pipe && edit '.steps[0].resource = "ml-api"'
	refused 'steps[0].resource: "ml-api" is not declared in resources'
	mkpipe pipe && edit '.resources = {"ml-api": {"breaker": {"failures": 0, "cooldown": "5m"}}}'
	refused "resources.ml-api.breaker.failures: must be an integer from 1 to 1000"
	mkpipe pipe && edit '.steps[0].limits = {"memory": "12x"}'
	refused 'steps[0].limits.memory: "12x": not a size'
	for c in 0 0.001 2000 '"2"' true; do
		mkpipe pipe && edit ".steps[0].limits = {\"cpus\": $c}"
		refused 'steps[0].limits.cpus: not a number of CPUs from 0.01 to 1024'
	done
	mkpipe pipe && edit '.steps[0].limits = {"cpus": 0.5, "cpu": "1m", "memory": "64M", "procs": 10}'
	run -0 airlock pack pipe -o ok.tar.zst
	mkpipe pipe && edit '.steps[0].outputs = [{"path": "../x"}]'
	refused 'steps[0].outputs[0].path: "../x": has a'
	mkpipe pipe && edit '.steps[0].network = "internet"'
	refused 'steps[0].network: "internet": must be none or host'
	mkpipe pipe && edit '.steps[0].retries = {"on": ["exit:0"]}'
	refused 'steps[0].retries.on[0]: "exit:0": not a retry condition'
	mkpipe pipe && edit '.steps[0].kind = "sleep"'
	refused 'steps[0].kind: "sleep": must be one of exec, await, validate, notify'
	mkpipe pipe && edit '.steps[0] = {"id": "wait", "kind": "await", "path": "/srv/drop/{date}/", "run": ["x"]}'
	refused "steps[0].run: unknown field for a step of kind await"
	mkpipe pipe && edit '.steps[0] = {"id": "wait", "kind": "await", "path": "drop/{date}"}'
	refused 'steps[0].path: "drop/{date}": an absolute path without ".."'
	mkpipe pipe && edit '.steps[0] = {"id": "wait", "kind": "await", "path": "/srv/drop/.."}'
	refused 'steps[0].path: "/srv/drop/..": an absolute path'
	mkpipe pipe && edit '.steps += [{"id": "v", "kind": "validate", "needs": ["hello"], "input": "nosuch:x.csv", "schema": "data/input.csv", "output": "o.csv"}]'
	refused 'steps[2].input: "nosuch:x.csv": must name another step'
	# max_reject: the step's own grammar, so that what packs also runs
	printf '{"format": "airlock.schema/1", "type": "csv", "columns": [{"name": "a", "type": "string"}]}\n' >pipe/data/s.json
	for m in 1e3 inf 5.1234567%; do
		mkpipe pipe && edit '.steps += [{"id": "v", "kind": "validate", "needs": ["hello"], "input": "hello:out.txt", "schema": "data/s.json", "output": "o.csv", "max_reject": "'"$m"'"}]'
		refused "steps[2].max_reject: \"$m\": a count (10) or a percentage (5%)"
	done
}

@test 'malformed JSON is named with its line and column' {
	printf '{\n  "format": "airlock.manifest/1",\n  "pipeline": tru\n}\n' >pipe/airlock.json
	run -2 airlock pack pipe -o b.tar.zst
	out_has "pipe/airlock.json:3:"
	printf '{"format": "airlock.manifest/1", "format": "x"}' >pipe/airlock.json
	run -2 airlock pack pipe -o b.tar.zst
	out_has "duplicate"
}

@test 'the JSON Schema accepts what airlock accepts, and refuses typos' {
	command -v python3 >/dev/null && python3 -c 'import jsonschema' 2>/dev/null ||
		skip "python3-jsonschema is not installed (make deps)"
	check() {
		python3 - "$ROOT_DIR/manifests/manifest.schema.json" "$1" <<-'PY'
		import json, sys, jsonschema
		schema = json.load(open(sys.argv[1]))
		jsonschema.Draft202012Validator.check_schema(schema)
		jsonschema.validate(json.load(open(sys.argv[2])), schema)
		PY
	}
	check pipe/airlock.json
	airlock pack pipe -o b.tar.zst
	airlock manifest b.tar.zst >manifest.json
	check manifest.json
	# the confinement members (runner/README.md, "Confinement")
	edit '.defaults.isolation = "strict" | .steps[0] += {"isolation": "default", "mounts": [{"host": "/srv/drop", "at": "/airlock/mnt/drop"}, {"host": "/srv/outbox", "at": "/airlock/mnt/outbox", "mode": "rw"}], "syscalls": ["ptrace"]}'
	check pipe/airlock.json
	run -0 airlock pack pipe -o b2.tar.zst
	edit '.steps[0].mounts[0].at = "/etc/x"'
	run check pipe/airlock.json
	[ "$status" -ne 0 ]
	run -2 airlock pack pipe -o b3.tar.zst
	edit '.steps[0].mounts[0].at = "/airlock/mnt/drop" | .steps[0].isolation = "paranoid"'
	run check pipe/airlock.json
	[ "$status" -ne 0 ]
	run -2 airlock pack pipe -o b3.tar.zst
	edit 'del(.steps[0].isolation) | .steps[0].retriez = 1'
	run check pipe/airlock.json
	[ "$status" -ne 0 ]
}
