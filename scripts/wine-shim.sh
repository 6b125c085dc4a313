#!/usr/bin/env bash
# Builds wine/processprng.c into bcryptprimitives.dll (the ProcessPrng shim Wine 8 lacks) and
# wine/argv-echo.c into argv-echo.exe, and prints the directory it is in. Rebuilds only when the source is newer than the DLL.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${CARGO_TARGET_DIR:-$root/target}/wine-shim"
dll="$out/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$root/wine/processprng.c" -nt "$dll" ] || [ "$root/wine/bcryptprimitives.def" -nt "$dll" ]; then
  mkdir -p "$out"
  x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$root/wine/processprng.c" \
    "$root/wine/bcryptprimitives.def" -ladvapi32
fi
# The argv-echo program the Windows codec tests spawn (spec/tests/windows_parser.rs).
if [ ! -f "$out/argv-echo.exe" ] || [ "$root/wine/argv-echo.c" -nt "$out/argv-echo.exe" ]; then
  x86_64-w64-mingw32-gcc -O2 -municode -o "$out/argv-echo.exe" "$root/wine/argv-echo.c" -lshell32
fi
echo "$out"
