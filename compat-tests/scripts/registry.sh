#!/usr/bin/env bash
# A plain-HTTP registry (Debian's docker-registry, distribution 2.8) on a free loopback port
# for the compat suite's registry cases (`dockbridge-compat --registry HOST:PORT`). Both
# engines treat loopback registries as insecure, as dockerd does, so no TLS is needed.
#   registry.sh start DIR   # prints 127.0.0.1:PORT; storage, config and log under DIR
#   registry.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
case $cmd in
start)
  mkdir -p "$dir/data"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CFG
  docker-registry serve "$dir/config.yml" >/dev/null 2>"$dir/log" &
  echo $! >"$dir/pid"
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "127.0.0.1:$port" | tee "$dir/addr"
      exit 0
    fi
    sleep 0.05
  done
  echo "registry did not come up:" >&2; cat "$dir/log" >&2; exit 1
  ;;
stop)
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
  ;;
esac
