#!/usr/bin/env bash
# Cargo runner for x86_64-pc-windows-gnu (see .cargo/config.toml): runs a Windows test
# binary under Wine with the ProcessPrng shim on WINEPATH, Wine's own chatter silenced, and a
# private WINEPREFIX (created on first use, reused after: creating one takes ~20 s).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shim="$("$root/scripts/wine-shim.sh")"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEPREFIX="${WINEPREFIX:-${CARGO_TARGET_DIR:-$root/target}/wineprefix}"
# Z: is the root of the Unix filesystem in every Wine prefix.
export WINEPATH="Z:${shim//\//\\}"
# Tests find the argv-echo program through this (a Windows path).
export DOCKBRIDGE_ARGV_ECHO="Z:${shim//\//\\}\\argv-echo.exe"
mkdir -p "$WINEPREFIX"
# Debian's wine64 package puts the loader in /usr/lib/wine (the `wine` package adds the
# /usr/bin wrappers).
wine=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)
exec "$wine" "$@"
