#!/bin/bash
# cli_asan.sh HYPLOG - every subcommand on good and on bad input; fails on any sanitizer
# report (ASan, LeakSanitizer, UBSan), on an exit status other than the documented one, on
# a hang, and on JSON output that does not parse. In the normal build it is a smoke test; in
# scripts/test's ASan+UBSan build (suite unit) it is the ASan run of the whole CLI (issue 13:
# `hyplog export` leaked its file name's JSON string, so it exited 1 with its JSON cut short).
set -u
H=${1:?usage: cli_asan.sh PATH/TO/hyplog}
T=$(mktemp -d "${TMPDIR:-/tmp}/hyplog-asan.XXXXXX")
trap 'rm -rf "$T"' EXIT
# leaks are errors; UBSan stops at the first report; a distinct exit status for both
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1:exitcode=86"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}exitcode=86"
if nm -D "$H" 2>/dev/null | grep -q __asan_init || nm "$H" 2>/dev/null | grep -q __asan_init; then
	echo "cli_asan: $H is built with AddressSanitizer"
else
	echo "cli_asan: $H has no AddressSanitizer (smoke run; scripts/test runs this in build-asan)"
fi
fails=0 n=0

# run RC [json] -- ARGS...: hyplog ARGS must exit RC (120 s limit) with no sanitizer report
run() {
	local want=$1 json=$2 rc
	shift 3
	n=$((n + 1))
	timeout 120 "$H" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Leak|Undefined)" "$T/err"; then
		echo "FAIL: hyplog $*: sanitizer report:"
		grep -m 30 -E "ERROR|runtime error|SUMMARY|^    #" "$T/err"
		fails=$((fails + 1))
	elif [[ $rc -ne $want ]]; then
		echo "FAIL: hyplog $*: exit $rc, want $want; stderr: $(tail -c 400 "$T/err")"
		fails=$((fails + 1))
	elif [[ $json == json ]] && ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" 2>/dev/null; then
		echo "FAIL: hyplog $*: stdout is not one JSON document: $(tail -c 200 "$T/out")"
		fails=$((fails + 1))
	else
		echo "ok:   hyplog $* (exit $rc)"
	fi
}

# ---- good input
run 0 - -- help
run 0 - -- help stress
for cmd in stress replay check export explore boot bench; do
	run 0 - -- $cmd --help
done
run 0 - -- stress --cpus 2 --ops 400 --seed 2 --quiet --check --log "$T/trap.hlog" --json "$T/stress.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/stress.json" ||
	{ echo "FAIL: stress --json wrote no JSON document"; fails=$((fails + 1)); }
run 0 - -- stress --engine-only --cpus 2 --ops 1500 --seed 5 --quiet --ckpt-every 64 --log "$T/eng.hlog"
run 0 - -- stress --cpus 1 --ops 100 --mix smmu --lock mcs --quiet
for f in trap eng; do
	run 0 - -- replay "$T/$f.hlog"
	run 0 - -- replay --quiet "$T/$f.hlog"
	run 0 - -- check "$T/$f.hlog"
	run 0 json -- check --json "$T/$f.hlog"
	run 0 json -- export "$T/$f.hlog"
	run 0 json -- export --format json "$T/$f.hlog"
done
run 0 - -- explore --runs 2 --ops 20 --cpus 2 --seed 4
run 0 - -- explore --strategy pct --runs 2 --ops 20 --cpus 2
run 0 - -- explore --strategy exhaustive --runs 3 --ops 6 --cpus 2 --max-decisions 4
run 0 - -- explore --replay 'strategy=random seed=1 cpus=2 ops=10'

# ---- bad input: files
mkfifo "$T/fifo"
mkdir "$T/dir"
: >"$T/empty"
head -c 5000 "$T/trap.hlog" >"$T/trunc.hlog"
cp "$T/trap.hlog" "$T/flip.hlog"
printf '\xff' | dd of="$T/flip.hlog" bs=1 seek=3000 conv=notrunc status=none
head -c 4096 /dev/urandom >"$T/junk"
for f in fifo dir empty trunc.hlog flip.hlog junk missing; do
	for cmd in replay check export; do
		run 2 - -- $cmd "$T/$f"
	done
	run 2 json -- check --json "$T/$f"
done
run 2 - -- replay /dev/null

# ---- bad input: usage
run 2 - -- frob
run 2 - -- help frob
run 2 - -- stress --cpus ' 2'
run 2 - -- stress --cpus 99
run 2 - -- stress --lock spin
run 2 - -- stress --mix nope
run 2 - -- stress --engine-only --invalid-pct 101
run 2 - -- stress extra
run 2 - -- replay
run 2 - -- replay a b
run 2 - -- replay --frob x
run 2 - -- check
run 2 - -- check --frob x
run 2 - -- export
run 2 - -- export --format xml "$T/trap.hlog"
run 2 - -- explore --replay ''
run 2 - -- explore --replay 'strategy=random seed=1 prefix=0.x'
run 2 - -- explore --strategy nope
run 2 - -- explore --fault nope
run 2 - -- explore --ops 0
run 2 - -- boot --smp 0
run 2 - -- boot --image "$T/missing"
run 2 - -- boot --image "$T/fifo"
run 2 - -- boot extra
run 2 - -- bench --reps 0
run 2 - -- bench --point-sec -1
run 2 - -- bench frob

echo "cli_asan: $((n - fails))/$n runs clean, $fails failed"
[[ $fails -eq 0 ]]
