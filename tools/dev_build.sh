#!/usr/bin/env bash
# Developer build without pip: compiles fastdl._core into build/dev and copies it next to the
# Python sources, so `PYTHONPATH=python pytest` runs against this work tree.
# Usage: tools/dev_build.sh [extra cmake -D options]   (BUILD_DIR overrides build/dev,
# DEST overrides python/fastdl as where the module is copied)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build/dev}"
py="${PYTHON:-python3}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$py")" "$@" >/dev/null
cmake --build "$build" -j "${JOBS:-2}"
cp "$build"/_core*.so "${DEST:-python/fastdl}/"
echo "built $(ls "$build"/_core*.so)"
