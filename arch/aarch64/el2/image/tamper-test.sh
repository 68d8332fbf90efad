#!/bin/sh
# tamper-test.sh WANT HYPLOG ARGS... - run `HYPLOG ARGS...` (hyplog boot with tamper-qemu.py,
# HYPLOG_TAMPER set by the test) and pass iff it FAILS with an output line containing WANT (the
# reason), so the test cannot pass because the fake QEMU broke
want=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $rc = 0 ]; then
	echo "tamper-test: FAIL: hyplog boot passed the tampered stream"
	exit 1
fi
if ! printf '%s\n' "$out" | grep -F -- "$want" >/dev/null; then
	echo "tamper-test: FAIL: hyplog boot failed (exit $rc), but not with: $want"
	exit 1
fi
echo "tamper-test: PASS: refused (exit $rc): $want"
