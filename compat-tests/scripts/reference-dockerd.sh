#!/usr/bin/env bash
# Starts / stops the reference Docker Engine (Debian's dockerd 20.10, API 1.41)
# on a private containerd, entirely under DIR, so it never touches a system
# daemon and can run side by side with dockbridge.
#
#   reference-dockerd.sh start DIR   # prints the DOCKER_HOST to use
#   reference-dockerd.sh stop DIR
#
# Keep DIR short: unix socket paths are limited to 108 bytes.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

ctrd_sock="$dir/containerd/containerd.sock"
docker_sock="$dir/docker.sock"

# Kills a pid from a pidfile and waits up to $2 seconds, then SIGKILLs it.
stop_pidfile() {
  local pidfile=$1 timeout=$2 pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((timeout * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Shims re-parent to init and outlive containerd; ours are the ones whose
# -address is our private socket, so only those are killed.
kill_shims() {
  local p cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)
    case "$cmdline" in
      *containerd-shim*"$ctrd_sock"*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
    esac
  done
}

# overlay2 / shm / netns mounts left under DIR would keep `rm -rf` from working.
unmount_all() {
  local m
  for _ in 1 2 3; do
    m=$(awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [[ -z "$m" ]] && return 0
    while read -r mp; do umount -l "$mp" 2>/dev/null || true; done <<<"$m"
  done
}

# dockerd creates its socket before the API is served: probe /_ping when
# curl is there, else give it a moment after the socket appears.
ping_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --unix-socket "$docker_sock" http://localhost/_ping >/dev/null 2>&1
  else
    sleep 1
  fi
}

start() {
  if [[ -S "$docker_sock" ]] && [[ -f "$dir/dockerd.pid" ]] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
    echo "unix://$docker_sock"
    return 0
  fi
  # Leftovers of a run that was killed: stale sockets would look "ready".
  stop
  rm -f "$ctrd_sock" "$docker_sock"
  mkdir -p "$dir/containerd/root" "$dir/containerd/state" "$dir/data" "$dir/exec"
  cat >"$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = "$dir/containerd/debug.sock"
TOML
  containerd --config "$dir/containerd/config.toml" >"$dir/containerd.log" 2>&1 &
  echo $! >"$dir/containerd.pid"
  for _ in $(seq 1 100); do
    [[ -S "$ctrd_sock" ]] && break
    sleep 0.1
  done
  if [[ ! -S "$ctrd_sock" ]]; then
    echo "containerd did not start; see $dir/containerd.log" >&2
    tail -20 "$dir/containerd.log" >&2 || true
    exit 1
  fi

  # --bridge=none / --iptables=false: no host networking changes; cases use
  # NetworkMode "none". With REFERENCE_BRIDGE=1 (only inside a private network
  # namespace: `unshare -n`) dockerd sets up its default bridge, for the bridge cases.
  # --exec-opt native.cgroupdriver=cgroupfs: cgroup v1 host.
  local net_flags=(--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none)
  if [[ "${REFERENCE_BRIDGE:-}" == 1 ]]; then
    net_flags=()
  fi
  dockerd \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" \
    --containerd "$ctrd_sock" \
    "${net_flags[@]}" \
    --storage-driver overlay2 \
    -H "unix://$docker_sock" \
    >"$dir/dockerd.log" 2>&1 &
  local launcher=$!
  for _ in $(seq 1 300); do
    if [[ -S "$docker_sock" ]] && ping_ok; then
      echo "unix://$docker_sock"
      return 0
    fi
    if ! kill -0 "$launcher" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "dockerd did not start; see $dir/dockerd.log" >&2
  tail -30 "$dir/dockerd.log" >&2 || true
  exit 1
}

stop() {
  stop_pidfile "$dir/dockerd.pid" 30
  stop_pidfile "$dir/containerd.pid" 10
  kill_shims
  unmount_all
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
