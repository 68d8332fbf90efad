#!/bin/sh
# Cache-line sharing audit (issue 11): build hyplog with GCC's ThreadSanitizer
# instrumentation linked against bench/fsdetect/fs_rt.c (not libtsan), run one
# `hyplog stress` with the given options, and print the 64-byte lines that the CPU
# threads pass between each other most, with the source lines of the accesses.
#   bench/fsdetect/run.sh --cpus 2 --mix faults --ops 20000      (from the project root)
# Environment: FSDETECT_BUILD (build dir, default build-fsdetect), FSDETECT_TOP (lines, 40).
# ck is built on compiler builtins (CK_USE_CC_BUILTINS) so its atomics are instrumented too.
# Options after the script's name go to `hyplog stress` (e.g. --lock mcs, --seed 2).
set -eu
b=${FSDETECT_BUILD:-build-fsdetect}
rt=$PWD/$b-rt
mkdir -p "$rt"
gcc -O2 -fPIC -shared -o "$rt/libfsrt.so" bench/fsdetect/fs_rt.c -ldl
if [ ! -f "$b/build.ninja" ]; then
	meson setup "$b" -Dbuildtype=plain -Dtests=disabled -Db_lundef=false \
		-Dc_args="-O1 -g -fno-omit-frame-pointer -fsanitize=thread -DCK_USE_CC_BUILTINS=1" \
		-Dc_link_args="-L$rt -Wl,-rpath,$rt -lfsrt" >/dev/null
fi
ninja -C "$b" hyplog >/dev/null
out=$(mktemp)
# thread 0 is the main thread (setup, progress): count the CPU threads only
FSDETECT_OUT=$out FSDETECT_MIN_TID=1 "$b/hyplog" stress --quiet --no-replay "$@" | grep -E '^(SUMMARY|stress FAILED)' || true
# resolve module+offset to function and source line
while IFS= read -r l; do
	case "$l" in
	"  "*" at "*)
		loc=${l##* at }
		mod=${loc%+0x*}
		off=${loc##*+}
		src=$(addr2line -f -C -i -e "$mod" "$off" 2>/dev/null | paste -sd' ' | sed "s#$PWD/##g")
		echo "$l  $src"
		;;
	*) echo "$l" ;;
	esac
done <"$out"
rm -f "$out"
