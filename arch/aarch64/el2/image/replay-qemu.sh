#!/bin/sh
# replay-qemu.sh - the el2 suite's replay attack on `hyplog boot` (test el2-boot-replay): stands
# in for qemu-system-aarch64 (hyplog boot --qemu), first printing every log-stream line of an
# earlier genuine run's transcript ($HYPLOG_REPLAY_TRANSCRIPT, written by test el2-boot-smp4's
# --transcript), as a host sharing the UART could, then running the real QEMU with the same
# arguments. The replayed stream carries the earlier run's HMAC, under another key: `hyplog
# boot --expect-forgery` must refuse it and still authenticate this run's own stream.
# The replay is printed without QEMU's "\r" (hyplog strips either way).
t=${HYPLOG_REPLAY_TRANSCRIPT:-}
if [ -z "$t" ] || ! grep -q '^HLMAC ' "$t" 2>/dev/null; then
	echo "replay-qemu: no genuine stream to replay in '$t' (run test el2-boot-smp4 first)" >&2
	exit 1
fi
grep -a '^HL' "$t" | tr -d '\r'
# HYPLOG_REPLAY_ONLY=1 (test el2-boot-replay-only): the replay alone, then exit 0, as a host
# that can also end the run would (the old parser took the first HLBEGIN block as the stream
# and passed it)
[ "${HYPLOG_REPLAY_ONLY:-0}" = 1 ] && exit 0
exec qemu-system-aarch64 "$@"
