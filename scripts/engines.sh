# Shared by scripts/compat.sh and scripts/pytest-clients.sh (sourced): a temp dir, the
# reference dockerd and dockbridge each on a private containerd under it, and a cleanup
# that stops both and leaves no mount behind.
# Sets: work, db_pid; functions: start_reference, stop_reference, start_dockbridge.
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
  pkill -9 -f "$work/db" 2>/dev/null
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_reference() { compat-tests/scripts/reference-dockerd.sh start "$work/ref" >/dev/null; }
stop_reference() { compat-tests/scripts/reference-dockerd.sh stop "$work/ref" >/dev/null; }

# dockbridge (target/debug) serving unix://$work/db/d.sock; arguments go to `serve`.
start_dockbridge() {
  mkdir -p "$work/db"
  target/debug/dockbridge serve -H "unix://$work/db/d.sock" --data-root "$work/db/data" \
    --exec-root "$work/db/exec" "$@" 2>"$work/db/log" &
  db_pid=$!
  for _ in $(seq 1 300); do [ -S "$work/db/d.sock" ] && break; sleep 0.1; done
}
