#!/bin/bash
# test_cli.sh HYPLOG - the command line never hangs, refuses bad input clearly (exit 2) and
# accepts good input (issue 13). Each case names the fault it guards against; a case fails
# if the exit status differs, if stderr lacks the expected words, or if it runs past its
# time limit (a FIFO opened for reading blocks forever).
set -u
H=${1:?usage: test_cli.sh PATH/TO/hyplog}
LIMIT=${HL_CLI_TIMEOUT:-10}   # seconds per command (more under qemu-aarch64: tests/meson.build)
T=$(mktemp -d "${TMPDIR:-/tmp}/hyplog-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0 n=0

# expect RC WORDS -- ARGS...: run hyplog ARGS ($LIMIT s limit), want exit RC and WORDS in stderr
expect() {
	local want=$1 words=$2 rc
	shift 3
	n=$((n + 1))
	timeout "$LIMIT" "$H" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [[ $rc -eq 124 ]]; then
		echo "FAIL: hyplog $* hung (killed after $LIMIT s)"
		fails=$((fails + 1))
	elif [[ $rc -ne $want ]]; then
		echo "FAIL: hyplog $*: exit $rc, want $want; stderr: $(head -c 300 "$T/err")"
		fails=$((fails + 1))
	elif [[ -n "$words" ]] && ! grep -qiF -- "$words" "$T/err"; then
		echo "FAIL: hyplog $*: stderr lacks '$words': $(head -c 300 "$T/err")"
		fails=$((fails + 1))
	else
		echo "ok:   hyplog $* (exit $rc)"
	fi
}

# a small good log file
"$H" stress --engine-only --cpus 2 --ops 2000 --seed 3 --quiet --log "$T/good.hlog" >/dev/null 2>"$T/err" ||
	{ echo "FAIL: cannot make a log file: $(cat "$T/err")"; exit 1; }

# ---- non-regular files are refused before they are opened (a FIFO used to block forever)
mkfifo "$T/fifo"
mkdir "$T/dir"
for cmd in replay check export; do
	expect 2 "not a regular file (a FIFO)" -- $cmd "$T/fifo"
	expect 2 "not a regular file (a directory)" -- $cmd "$T/dir"
	expect 2 "not a regular file (a character device)" -- $cmd /dev/null
	expect 2 "cannot open" -- $cmd "$T/missing"
	expect 0 "" -- $cmd "$T/good.hlog"
done
expect 2 "not a regular file" -- boot --image "$T/fifo" --timeout 5

# ---- strict numbers: no leading blank, sign, trailing junk, overflow or empty value
for bad in ' 2' '2 ' '+2' '-1' '2x' '' '0x' '99999999999999999999999' '1e3'; do
	expect 2 "--cpus" -- stress --cpus "$bad" --ops 10
	expect 2 "--cpus" -- explore --cpus "$bad" --runs 1
done
expect 2 "--cpus" -- stress --engine-only --cpus ' 2' --ops 10
expect 2 "--ops" -- stress --engine-only --ops '10 '
expect 2 "--seed" -- stress --seed 18446744073709551616 --ops 10
expect 2 "--smp" -- boot --smp ' 2'
expect 2 "--timeout" -- boot --timeout 5s
expect 2 "--reps" -- bench --reps ' 3'
expect 2 "--max-cpus" -- bench --max-cpus 4294967297
expect 2 "--point-sec" -- bench --point-sec inf
expect 2 "--point-sec" -- bench --point-sec nan
expect 2 "--ckpt-every" -- explore --ckpt-every 1x --runs 1
expect 2 "--fault" -- explore --fault 'skip-lock:0x'
expect 0 "" -- stress --cpus 2 --ops 50 --quiet
expect 0 "" -- stress --cpus 0x2 --ops 0x32 --quiet

# ---- explore --replay: an empty or partial line is not a reproducer (it used to run a default run)
expect 2 "needs a reproducer line" -- explore --replay ''
expect 2 "needs a reproducer line" -- explore --replay '  '
expect 2 "not a reproducer line" -- explore --replay 'cpus=2'
expect 2 "not a reproducer line" -- explore --replay 'strategy=random seed= 1'
expect 2 "not a reproducer line" -- explore --replay 'strategy=random seed=+1'
expect 2 "takes no other options" -- explore --cpus 2 --replay 'strategy=random seed=1'
expect 0 "" -- explore --replay 'strategy=random seed=1 cpus=2 ops=10'

# ---- help: an unknown command is an error (it used to print the usage and exit 0)
expect 2 "unknown command 'frob'" -- help frob
expect 2 "at most one" -- help export extra
expect 2 "unknown command" -- frob
expect 0 "" -- help
expect 0 "" -- --help
for cmd in stress replay check export explore boot bench; do
	expect 0 "" -- help $cmd
	expect 0 "" -- $cmd --help
	grep -q "usage: hyplog $cmd" "$T/out" || { echo "FAIL: hyplog $cmd --help prints no usage"; fails=$((fails + 1)); }
done

# ---- export: --format is optional (json is the default and the only format)
expect 0 "" -- export "$T/good.hlog"
cp "$T/out" "$T/a.json"
expect 0 "" -- export --format json "$T/good.hlog"
cmp -s "$T/out" "$T/a.json" || { echo "FAIL: export with and without --format json differ"; fails=$((fails + 1)); }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["cpus"] == 2 and d["operations"]' "$T/a.json" ||
	{ echo "FAIL: export output is not the expected JSON"; fails=$((fails + 1)); }
expect 2 "not supported" -- export --format xml "$T/good.hlog"
grep -q "usage: hyplog export \[--format json\] FILE" <("$H" export --help) ||
	{ echo "FAIL: export usage does not show --format as optional"; fails=$((fails + 1)); }
# a file name that is not UTF-8 still gives valid JSON
cp "$T/good.hlog" "$T/$(printf 'bad\xffname.hlog')"
expect 0 "" -- export "$T/$(printf 'bad\xffname.hlog')"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/out" ||
	{ echo "FAIL: export of a non-UTF-8 file name is not valid JSON"; fails=$((fails + 1)); }

# ---- a log of the EL2 Linux image (s2page = 2048 MiB, issue 12) is read by hyplog-linux: check,
# replay and export run it (they used to report only "file was written with ram_mib=2048"), or
# say clearly that it is missing. The log: good.hlog with the header's ram_mib made 2048.
if python3 - "$T/good.hlog" "$T/linux.hlog" <<'EOF'
import struct, sys, zlib
d = bytearray(open(sys.argv[1], 'rb').read())
if struct.unpack_from('<I', d, 28)[0] == 2048:
    sys.exit(1)   # this build is the Linux image's size: nothing to hand over
hl = struct.unpack_from('<I', d, 12)[0]
struct.pack_into('<I', d, 28, 2048)
struct.pack_into('<I', d, hl - 4, zlib.crc32(bytes(d[:hl - 4])))
open(sys.argv[2], 'wb').write(d)
EOF
then
	mkdir "$T/alone"
	cp "$H" "$T/alone/hyplog"
	for cmd in check replay export; do
		if [[ -x "$(dirname "$H")/hyplog-linux" ]]; then
			n=$((n + 1))
			timeout "$LIMIT" "$H" $cmd "$T/linux.hlog" >"$T/out" 2>"$T/err" </dev/null
			if ! grep -qF "written by the EL2 Linux image (s2page = 2048 MiB" "$T/err" ||
				! grep -qF "running hyplog-linux" "$T/err"; then
				echo "FAIL: hyplog $cmd of a Linux image's log does not run hyplog-linux: $(head -c 300 "$T/err")"
				fails=$((fails + 1))
			else
				echo "ok:   hyplog $cmd of a Linux image's log runs hyplog-linux"
			fi
		fi
		H_ALL=$H H=$T/alone/hyplog
		expect 2 "read by hyplog-linux, which is not at $T/alone/hyplog-linux" -- $cmd "$T/linux.hlog"
		H=$H_ALL
	done
fi

# ---- a boot killed from outside (meson's or timeout(1)'s SIGKILL) takes its QEMU with it:
# QEMU runs in a process group of its own, and an orphaned one kept a core busy for ever
n=$((n + 1))
printf '#!/bin/sh\necho $$ > "%s/qemu.pid"\nexec sleep 300\n' "$T" >"$T/fake-qemu"
chmod +x "$T/fake-qemu"
printf 'not an image' >"$T/img.elf"
"$H" boot --quiet --qemu "$T/fake-qemu" --image "$T/img.elf" --log "$T/boot.log" --timeout 60 \
	>/dev/null 2>&1 </dev/null &
bpid=$!
for _ in $(seq 50); do [[ -s "$T/qemu.pid" ]] && break; sleep 0.1; done
qpid=$(cat "$T/qemu.pid" 2>/dev/null)
kill -9 "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
for _ in $(seq 30); do [[ -n "$qpid" ]] && kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
if [[ -z "$qpid" ]]; then
	echo "FAIL: hyplog boot --qemu FAKE never started the fake QEMU"
	fails=$((fails + 1))
elif kill -0 "$qpid" 2>/dev/null; then
	echo "FAIL: hyplog boot killed by SIGKILL left its QEMU (pid $qpid) running"
	kill -9 "$qpid" 2>/dev/null
	fails=$((fails + 1))
else
	echo "ok:   hyplog boot killed by SIGKILL takes its QEMU with it"
fi

echo "test_cli: $((n - fails))/$n cases passed, $fails failed"
[[ $fails -eq 0 ]]
