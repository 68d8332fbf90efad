#!/bin/bash
# test_install.sh BUILDDIR SOURCEDIR [B_SANITIZE [CROSS]] - libhyplog as another project uses it (issue 13):
# `meson install --destdir` into a temporary tree, then examples/embed.c is built with the C
# compiler and pkg-config alone (no meson, no source tree), once against the shared and once
# against the static library, and run: 2 CPU threads, a log file, replay == live, the checks.
# Also: only the public headers are installed, and the shared library exports only hyplog_*.
set -u
BUILD=${1:?usage: test_install.sh BUILDDIR SOURCEDIR [B_SANITIZE]}
SRC=${2:?usage: test_install.sh BUILDDIR SOURCEDIR [B_SANITIZE]}
SAN=${3:-none}
if [[ "${4:-false}" == true ]]; then
	echo "test_install: skipped in a cross build (the example is built with the build machine's cc)"
	exit 77
fi
if [[ "$SAN" != none && -n "$SAN" ]]; then
	# the installed library is instrumented: a plain `cc` link of it cannot work
	echo "test_install: skipped in a -Db_sanitize=$SAN build"
	exit 77
fi
CC=${CC:-cc}
unset LD_LIBRARY_PATH   # meson test points it at the build tree: only the installed copy counts
T=$(mktemp -d "${TMPDIR:-/tmp}/hyplog-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

DEST=$T/dest
meson install -C "$BUILD" --no-rebuild --quiet --destdir "$DEST" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; echo "FAIL: meson install --destdir"; exit 1; }
pc=$(find "$DEST" -name hyplog.pc | head -1)
[[ -n "$pc" ]] || { echo "FAIL: no hyplog.pc installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
echo "test_install: installed into $DEST (libdir ${libdir#"$DEST"})"

# headers: the public API only
hdrs=$(cd "$DEST" && find . -name '*.h' | sort | tr '\n' ' ')
[[ "$hdrs" == *"/include/hyplog/hyplog.h "*"/include/hyplog/version.h "* ]] || fail "public headers missing: $hdrs"
[[ $(echo "$hdrs" | wc -w) -eq 2 ]] || fail "headers other than hyplog.h and version.h installed: $hdrs"
for l in libhyplog.a libhyplog.so; do
	[[ -e "$libdir/$l" ]] || fail "$l not installed in $libdir"
done
# the shared library's ABI: hyplog_* and the version node, nothing internal
syms=$(nm -D --defined-only "$libdir/libhyplog.so" | awk '{sub(/@.*/, "", $NF); print $NF}')
extra=$(echo "$syms" | grep -v -e '^hyplog_' -e '^HYPLOG_' || true)
[[ -z "$extra" ]] || fail "libhyplog.so exports internal symbols: $(echo "$extra" | head -5 | tr '\n' ' ')"
echo "$syms" | grep -qx hyplog_version || fail "libhyplog.so lacks hyplog_version"

# build and run the example with pkg-config alone
export PKG_CONFIG_SYSROOT_DIR=$DEST PKG_CONFIG_PATH=$(dirname "$pc")
unset PKG_CONFIG_LIBDIR
pkg-config --exists hyplog || { echo "FAIL: pkg-config cannot find hyplog"; exit 1; }
ver=$(pkg-config --modversion hyplog)
echo "test_install: pkg-config hyplog $ver: $(pkg-config --cflags --libs hyplog)"
cp "$SRC/examples/embed.c" "$T/embed.c"   # outside the source tree: no project header can leak in

if $CC -std=c11 -Wall -Wextra -Werror -o "$T/embed-shared" "$T/embed.c" $(pkg-config --cflags --libs hyplog) -pthread; then
	if ldd "$T/embed-shared" | grep -q 'libhyplog.so.0 => not found' &&
		LD_LIBRARY_PATH="$libdir" "$T/embed-shared" "$T/shared.hlog"; then
		echo "ok:   shared: built with pkg-config, ran against $libdir/libhyplog.so.0"
	else
		fail "shared: the example failed (or found another libhyplog before LD_LIBRARY_PATH)"
	fi
else
	fail "shared: the example does not build with pkg-config --cflags --libs hyplog"
fi

if $CC -std=c11 -Wall -Wextra -Werror -o "$T/embed-static" "$T/embed.c" $(pkg-config --cflags hyplog) \
	-Wl,-Bstatic -lhyplog -Wl,-Bdynamic $(pkg-config --static --libs hyplog); then
	if ldd "$T/embed-static" | grep -q libhyplog; then
		fail "static: the example links libhyplog.so"
	elif "$T/embed-static" "$T/static.hlog"; then
		echo "ok:   static: built with pkg-config --static, libhyplog.a linked in"
	else
		fail "static: the example failed"
	fi
else
	fail "static: the example does not build with pkg-config --static --libs hyplog"
fi

# the version the headers carry is the project's and the library's
grep -q "#define HYPLOG_VERSION \+\"$ver\"" "$DEST"/*/*/include/hyplog/version.h "$DEST"/*/include/hyplog/version.h 2>/dev/null ||
	fail "version.h does not say $ver"

echo "test_install: $([[ $fails -eq 0 ]] && echo ok || echo "$fails failed")"
[[ $fails -eq 0 ]]
