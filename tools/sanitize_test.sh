#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, without touching the
# normal build: compiles fastdl._core with -DFASTDL_SANITIZE=ON into build/asan, puts it next
# to a copy of python/fastdl in build/asan/pkg, and runs pytest against that copy.
# Usage: tools/sanitize_test.sh [pytest args]   (default: the whole suite, quietly)
# Python itself is not built with ASan, so libasan is preloaded; leak checking is off because
# CPython's interned objects and arenas are "leaks" by design. Any report aborts the process
# (-fno-sanitize-recover, halt_on_error), so a clean exit means zero reports.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
pkg=build/asan/pkg
rm -rf "$pkg"
mkdir -p "$pkg"
cp -r python/fastdl "$pkg/"
rm -f "$pkg"/fastdl/_core*.so
# No LTO (pybind11 adds it to Release): linking ASan code with it takes minutes.
BUILD_DIR=build/asan DEST="$pkg/fastdl" tools/dev_build.sh -DFASTDL_SANITIZE=ON \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF
libasan="$("${CXX:-c++}" -print-file-name=libasan.so)"
# libstdc++ too: python does not link it, and ASan's __cxa_throw interceptor aborts ("CHECK
# failed: real___cxa_throw != 0") at the first C++ exception unless it was loaded at start.
libstdcxx="$("${CXX:-c++}" -print-file-name=libstdc++.so)"
export LD_PRELOAD="$libasan:$libstdcxx${LD_PRELOAD:+:$LD_PRELOAD}"
# Reports go to files (pytest captures stderr, and an aborting process loses it), one per
# process, so reports from subprocesses the tests start are counted too.
reports="$PWD/build/asan/reports"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
PYTHONPATH="$pkg" "$py" -c "import fastdl; assert fastdl.config()['sanitize'], 'not a sanitizer build'"
if [ "$#" -eq 0 ]; then set -- -q -p no:cacheprovider; fi
status=0
PYTHONPATH="$pkg" "$py" -m pytest "$@" || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports:" >&2
  cat "$reports"/* >&2
  exit 1
fi
exit "$status"
