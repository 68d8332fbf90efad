#!/usr/bin/env python3
# tamper-qemu.py - the el2 suite's map-tampering tests (el2-boot-map-*): stands in for
# qemu-system-aarch64 (hyplog boot --qemu). It prints KCore's stream from an earlier genuine
# run ($HYPLOG_REPLAY_TRANSCRIPT, test el2-boot-smp4's --transcript), RE-AUTHENTICATED under
# this run's stream key, which it reads from hyplog's own -device loader arguments (as no
# host can: in a real run the key is in KCore's memory only), then exits 0 like the image.
# So `hyplog boot` takes the stream as KCore's, and only its content checks stand between a
# tampered refinement map and a passing verdict. $HYPLOG_TAMPER:
#   none        the stream as it was (the control: must pass)
#   map         the first npt(host) HLSHARD line's range one page shorter, then the HMAC
#   map-nomac   the HMAC first, then the same change (a tampered line under a stale HMAC)
import hashlib
import hmac
import os
import sys

mode = os.environ.get("HYPLOG_TAMPER", "none")
t = os.environ.get("HYPLOG_REPLAY_TRANSCRIPT", "")
try:
    lines = [l.rstrip("\r\n") for l in open(t, encoding="ascii", errors="replace")]
except OSError as e:
    sys.exit(f"tamper-qemu: no transcript '{t}' ({e}): run test el2-boot-smp4 first")
words = {}
for a in sys.argv[1:]:
    if a.startswith("loader,") and ",data=" in a:
        f = dict(kv.split("=", 1) for kv in a.split(",")[1:])
        words[int(f["addr"], 0)] = int(f["data"], 0).to_bytes(8, "little")
if len(words) != 4:
    sys.exit(f"tamper-qemu: want the 4 key words in -device loader arguments, got {len(words)}")
key = b"".join(words[a] for a in sorted(words))
begins = [i for i, l in enumerate(lines) if l.startswith("HLBEGIN ")]
if not begins:
    sys.exit("tamper-qemu: no HLBEGIN in the transcript")
b = begins[-1]
m = next((i for i in range(b, len(lines)) if lines[i].startswith("HLMAC ")), None)
if m is None:
    sys.exit("tamper-qemu: no HLMAC after the last HLBEGIN")
stream = lines[b:m]


def tamper(s):
    for i, l in enumerate(s):
        f = l.split()
        if f[0] == "HLSHARD" and f[2] == "5":   # parent npt(HOSTVISOR)
            off, ln = f[5].split(":")
            f[5] = "%x:%x" % (int(off, 16), int(ln, 16) - 0x1000)
            s[i] = " ".join(f)
            print(f"tamper-qemu: HLSHARD line {l!r} -> {s[i]!r}", file=sys.stderr)
            return
    sys.exit("tamper-qemu: no npt(host) HLSHARD line to tamper with (an unsharded image?)")


if mode == "map":
    tamper(stream)
mac = hmac.new(key, "".join(l + "\n" for l in stream).encode(), hashlib.sha256).hexdigest()
if mode == "map-nomac":
    tamper(stream)
elif mode not in ("none", "map"):
    sys.exit(f"tamper-qemu: unknown HYPLOG_TAMPER '{mode}'")
print("tamper-qemu: KCore's stream from the transcript, re-authenticated under this run's key")
for l in stream:
    print(l)
print("HLMAC " + mac)
sys.stdout.flush()
