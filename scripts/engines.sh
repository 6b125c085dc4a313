# Shared by scripts/compat.sh and scripts/pytest-clients.sh (sourced): a temp dir, the
# reference dockerd and dockbridge each on a private containerd under it, and a cleanup
# that stops both and leaves no mount behind.
# Sets: work, db_pid, bin (the debug binaries, also under $CARGO_TARGET_DIR); functions:
# start_reference, stop_reference, start_dockbridge.
bin="${CARGO_TARGET_DIR:-target}/debug"
work=$(mktemp -d /tmp/dbc.XXXXXX)
db_pid=
cleanup() {
  set +e
  compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null 2>&1
  if [ -n "$db_pid" ]; then
    kill -TERM "$db_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$db_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$db_pid" 2>/dev/null
  fi
  compat-tests/scripts/reference-dockerd.sh stop "$work/refb" >/dev/null 2>&1
  [ -n "${podman_pid:-}" ] && kill -KILL "$podman_pid" 2>/dev/null
  pkill -9 -f "$work/db" 2>/dev/null
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# podman's Docker-compatible service on unix://$work/podman/podman.sock, with its own
# storage under $work. This sandbox's hard limits are below podman's default container
# rlimits (nofile/nproc 1048576), which runc then cannot set: lower defaults, and
# cgroupfs/file events since there is no systemd.
start_podman() {
  mkdir -p "$work/podman"
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' \
    >"$work/podman/containers.conf"
  # In a private network namespace: the bridge cases make podman create networks.
  CONTAINERS_CONF="$work/podman/containers.conf" unshare -n sh -c 'ip link set lo up &&
    exec podman --root "$1/root" --runroot "$1/run" system service --time=0 "unix://$1/podman.sock"' \
    sh "$work/podman" >"$work/podman/log" 2>&1 &
  podman_pid=$!
  for _ in $(seq 1 100); do [ -S "$work/podman/podman.sock" ] && break; sleep 0.1; done
}
stop_podman() {
  # podman's network cases start aardvark-dns in its namespace; it outlives the service.
  if [ -n "${podman_pid:-}" ]; then
    ns=$(readlink "/proc/$podman_pid/ns/net" 2>/dev/null || true)
    for p in $(pgrep -x aardvark-dns || true); do
      [ -n "$ns" ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$ns" ] && kill "$p" 2>/dev/null
    done
  fi
  [ -n "${podman_pid:-}" ] && kill -TERM "$podman_pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "${podman_pid:-0}" 2>/dev/null || break; sleep 0.1; done
  podman --root "$work/podman/root" --runroot "$work/podman/run" rm -af >/dev/null 2>&1 || true
  # conmon of podman's exec sessions waits out its --exit-delay (300 s) after the service.
  pkill -9 -f "conmon .*$work/podman/" 2>/dev/null || true
  podman_pid=
}

start_reference() { compat-tests/scripts/reference-dockerd.sh start "$work/ref" >/dev/null; }
stop_reference() { compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null; }

# dockbridge (target/debug) serving unix://$work/db/d.sock; arguments go to `serve`.
start_dockbridge() {
  mkdir -p "$work/db"
  "$bin/dockbridge" serve -H "unix://$work/db/d.sock" --data-root "$work/db/data" \
    --exec-root "$work/db/exec" "$@" 2>"$work/db/log" &
  db_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
}
