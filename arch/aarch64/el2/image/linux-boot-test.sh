#!/bin/sh
# linux-boot-test.sh LINUX_FETCH LINUX_DIR HYPLOG_LINUX [hyplog boot options...]
#
# The meson tests el2-linux-boot*: scripts/linux-module and scripts/linux-fetch into LINUX_DIR (under the build folder:
# the downloaded .debs are cached there, so only the first run downloads; apt-get download
# needs the arm64 package lists scripts/aarch64-sysroot set up), then
# `HYPLOG_LINUX boot --linux --linux-dir LINUX_DIR OPTIONS...` (issue 12).
set -eu
fetch=$1 dir=$2 hyplog=$3
shift 3
# hyplog-kvm.ko first (scripts/linux-module, cached in LINUX_DIR too): linux-fetch packs it into
# the initramfs, and the boot runs its VMs (the run fails if the driver reports a failure)
HL_LINUX_DIR=$dir "$(dirname "$fetch")/linux-module" </dev/null >&2 ||
	{ echo "linux-boot-test: scripts/linux-module failed" >&2; exit 1; }
HL_LINUX_DIR=$dir "$fetch" </dev/null >&2 || { echo "linux-boot-test: scripts/linux-fetch failed" >&2; exit 1; }
exec "$hyplog" boot --linux --linux-dir "$dir" "$@"
