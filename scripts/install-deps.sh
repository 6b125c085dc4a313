#!/usr/bin/env bash
# Installs what dockbridge and its tests need on a fresh Debian machine, skipping what is
# already there: containerd + runc (the runtime), busybox-static (the offline test image),
# protobuf-compiler (containerd-client generates its gRPC code at build time), docker.io
# (the reference dockerd the compat suite is checked against; the docker CLI 28.x at
# /usr/local/bin/docker is used as the client), util-linux's script(1) for TTY tests, and
# the Windows target for type-checking the Windows code; docker-registry (distribution 2.8),
# skopeo and apache2-utils (htpasswd) for the registry tests and bench/pull.sh, openssl for
# their test CA, and the MinGW C compiler that ring (rustls' crypto) needs when the
# workspace is linted for Windows.
set -euo pipefail

need=()
for pair in containerd:containerd runc:runc busybox:busybox-static protoc:protobuf-compiler \
            dockerd:docker.io script:bsdutils docker-registry:docker-registry skopeo:skopeo \
            htpasswd:apache2-utils openssl:openssl curl:curl \
            x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
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
# Debian's docker.io starts a system dockerd/containerd via systemd where systemd runs;
# dockbridge and the tests never use them (each runs private instances).

if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu \
    || rustup target add x86_64-pc-windows-gnu >/dev/null
fi
