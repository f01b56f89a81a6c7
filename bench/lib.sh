# lib.sh - shared by the benchmarks: where the binaries are, a scratch
# directory, and a median timer. Each benchmark prints its figure beside a
# baseline measured in the same run.
# shellcheck shell=bash

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${AIRLOCK_BUILD:-$bench_root/build/dyn}
case $build in /*) ;; *) build="$bench_root/$build" ;; esac
scratch=${BENCH_DIR:-${TMPDIR:-/tmp}/airlock-bench}
mkdir -p "$scratch"

# median_seconds N CMD...: runs CMD N times, prints the median wall time.
median_seconds() {
	local n=$1 i start end
	shift
	for ((i = 0; i < n; i++)); do
		start=$EPOCHREALTIME
		"$@" >/dev/null
		end=$EPOCHREALTIME
		awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f\n", e - s }'
	done | sort -n | awk '{ t[NR] = $1 } END { printf "%.4f\n", t[int((NR + 1) / 2)] }'
}

# verdict VALUE OP LIMIT: prints PASS or FAIL.
verdict() {
	if awk -v v="$1" -v l="$3" "BEGIN { exit !(v $2 l) }"; then echo PASS; else echo FAIL; fi
}
