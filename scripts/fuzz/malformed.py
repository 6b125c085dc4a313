#!/usr/bin/env python3
"""Hand-written malformed requests for scripts/fuzz.sh: what a schema cannot generate.

    malformed.py SOCKET CONTAINER [MAX_BODY]

SOCKET is dockbridge's unix socket, CONTAINER a running busybox container to aim at.
Each case sends raw bytes and checks the answer: never a 5xx for a client's mistake, a
Docker-shaped `{"message": …}` error, the status dockerd gives where it is known, and the
daemon still answering `/_ping` afterwards. Prints one line per case; exits 1 if any failed.
"""
import gzip
import io
import json
import os
import socket
import sys
import tarfile
import time

SOCK, CONTAINER = sys.argv[1], sys.argv[2]
MAX_BODY = int(sys.argv[3]) if len(sys.argv) > 3 else 2 << 20
failures = []


def connect(timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s


def read_response(s):
    """(status, headers, body) of one response; the body read to its end (or EOF)."""
    f = s.makefile("rb")
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed without a response")
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(f.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                f.readline()
                break
            body += f.read(size)
            f.readline()
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    return status, headers, body


def request(method, path, body=b"", headers=None, raw_head=None):
    s = connect()
    try:
        head = raw_head
        if head is None:
            hs = {"Host": "docker", "Content-Length": str(len(body))}
            hs.update(headers or {})
            head = f"{method} {path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in hs.items()
            ) + "\r\n"
            head = head.encode("latin-1") if isinstance(head, str) else head
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may answer (413) and close before the body is all sent
        return read_response(s)
    finally:
        s.close()


def ping_ok():
    try:
        st, _, b = request("GET", "/_ping")
        return st == 200 and b == b"OK"
    except OSError:
        return False


def case(name, expect, fn, docker_shape=True):
    """`expect`: a set of acceptable statuses, or None for "any status below 500".
    `docker_shape=False` for refusals of the HTTP layer itself (a request hyper cannot parse),
    which carry no body: dockerd's Go server answers those in plain text too."""
    try:
        status, headers, body = fn()
        problems = []
        if status >= 500:
            problems.append(f"server error {status}")
        if expect is not None and status not in expect:
            problems.append(f"status {status}, want {sorted(expect)}")
        if status >= 400 and docker_shape:
            try:
                msg = json.loads(body).get("message")
                if not msg:
                    problems.append("error without a message")
            except ValueError:
                problems.append(f"error body is not Docker's JSON: {body[:120]!r}")
    except Exception as e:  # noqa: BLE001 — any exception is a failed case
        status, problems = None, [f"{type(e).__name__}: {e}"]
    if not ping_ok():
        problems.append("daemon no longer answers /_ping")
    print(f"{'ok  ' if not problems else 'FAIL'} {name}: {status} {'; '.join(problems)}")
    if problems:
        failures.append(name)


def tar_of(entries):
    """A tar with the given (name, bytes) entries, names written as given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


JSON = {"Content-Type": "application/json"}
create = "/containers/create"

# --- sizes ---------------------------------------------------------------------------
big = b'{"Image":"busybox","Env":["' + b"x" * (MAX_BODY + 1024) + b'"]}'
case("body over the limit (Content-Length)", {413}, lambda: request("POST", create, big, JSON))


def chunked_big():
    s = connect()
    try:
        s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(MAX_BODY // len(chunk) + 4):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s)
    finally:
        s.close()


case("body over the limit (chunked)", {413}, chunked_big)
case("huge header", {431, 400}, lambda: request("GET", "/_ping", headers={"X-Big": "y" * 2_000_000}),
     docker_shape=False)
case("huge URL", {414, 431, 400}, lambda: request("GET", "/containers/json?filters=" + "a" * 2_000_000),
     docker_shape=False)
case("negative resize", {400}, lambda: request("POST", f"/containers/{CONTAINER}/resize?h=-1&w=-5"))
case("negative ShmSize", {400}, lambda: request(
    "POST", create, json.dumps({"Image": "busybox", "HostConfig": {"ShmSize": -1}}).encode(), JSON))
case("negative Memory", {400}, lambda: request(
    "POST", create, json.dumps({"Image": "busybox", "HostConfig": {"Memory": -5}}).encode(), JSON))
case("negative logs tail", None, lambda: request("GET", f"/containers/{CONTAINER}/logs?stdout=1&tail=-7"))
case("negative stop timeout", None, lambda: request("POST", f"/containers/nosuch/stop?t=-99999999999"))
case("huge integer in JSON", {400}, lambda: request(
    "POST", create, b'{"Image":"busybox","HostConfig":{"Memory":1e400}}', JSON))

# --- encodings -----------------------------------------------------------------------
case("invalid UTF-8 in JSON", {400}, lambda: request("POST", create, b'{"Image":"\xff\xfe"}', JSON))
case("invalid UTF-8 in the path", {400, 404}, lambda: request(
    "GET", "/containers/%ff%fe/json"))
case("invalid UTF-8 in a query", {400}, lambda: request("GET", "/containers/json?filters=%ff"))
case("deep JSON", {400}, lambda: request("POST", create, b"[" * 100_000 + b"]" * 100_000, JSON))
case("deep JSON in filters", {400}, lambda: request(
    "GET", "/containers/json?filters=" + "%5B" * 5_000))
case("JSON of the wrong type", {400}, lambda: request("POST", create, b'{"Image":["busybox"]}', JSON))
case("empty body", {400}, lambda: request("POST", create, b"", JSON))
case("NUL in a name", {400}, lambda: request("POST", create + "?name=a%00b",
                                             json.dumps({"Image": "busybox"}).encode(), JSON))

# --- names and paths -------------------------------------------------------------------
case("container name traversal", {400}, lambda: request(
    "POST", create + "?name=../../etc", json.dumps({"Image": "busybox"}).encode(), JSON))
case("volume name traversal", {400}, lambda: request(
    "POST", "/volumes/create", json.dumps({"Name": "../../../tmp/x"}).encode(), JSON))
case("volume name traversal (inspect)", {404, 400}, lambda: request("GET", "/volumes/..%2F..%2Fetc"))
case("image name traversal", {400, 404}, lambda: request("GET", "/images/../../etc/passwd/json"))
case("tag with traversal", {400}, lambda: request("POST", "/images/busybox/tag?repo=../x&tag=1"))
case("archive path traversal (GET)", {200, 404}, lambda: request(
    "GET", f"/containers/{CONTAINER}/archive?path=/../../../../../../etc/hostname"))
escape = tar_of([("../../../../../../tmp/dockbridge-fuzz-escape", b"escaped")])
case("archive entry escaping the target (PUT)", {400, 403}, lambda: request(
    "PUT", f"/containers/{CONTAINER}/archive?path=/tmp", escape, {"Content-Type": "application/x-tar"}))
if os.path.exists("/tmp/dockbridge-fuzz-escape"):
    print("FAIL archive entry escaped into the host's /tmp")
    failures.append("archive escape")
case("archive absolute symlink entry", None, lambda: request(
    "PUT", f"/containers/{CONTAINER}/archive?path=/tmp",
    tar_of([("link/../../../x", b"y")]), {"Content-Type": "application/x-tar"}))

# --- bad archives ------------------------------------------------------------------------
garbage = os.urandom(4096)
bad_gzip = b"\x1f\x8b\x08\x00" + os.urandom(200)
truncated_tar = tar_of([("a", b"x" * 5000)])[:700]
for label, data in [("garbage", garbage), ("bad gzip", bad_gzip), ("truncated tar", truncated_tar)]:
    case(f"load: {label}", {200, 400}, lambda d=data: request(
        "POST", "/images/load?quiet=1", d, {"Content-Type": "application/x-tar"}))
    case(f"import: {label}", {400}, lambda d=data: request(
        "POST", "/images/create?fromSrc=-&repo=fuzz&tag=x", d, {"Content-Type": "application/x-tar"}))
    case(f"cp: {label}", {400}, lambda d=data: request(
        "PUT", f"/containers/{CONTAINER}/archive?path=/tmp", d, {"Content-Type": "application/x-tar"}))
    case(f"build: {label}", {200, 400}, lambda d=data: request(
        "POST", "/build?t=fuzz:x", d, {"Content-Type": "application/x-tar"}))

# --- bad X-Registry-Auth ------------------------------------------------------------------
for label, auth in [("not base64", "!!!***"), ("base64 of garbage", "Zm9vYmFy"),
                    ("base64 of a JSON array", "WzEsMl0=")]:
    case(f"pull with X-Registry-Auth {label}", None, lambda a=auth: request(
        "POST", "/images/create?fromImage=Invalid_Upper&tag=x", headers={"X-Registry-Auth": a}))
    case(f"push with X-Registry-Auth {label}", None, lambda a=auth: request(
        "POST", "/images/nosuch/push", headers={"X-Registry-Auth": a}))
case("auth with a bad body", {400}, lambda: request("POST", "/auth", b"{nope", JSON))

# --- protocol ----------------------------------------------------------------------------
case("bad Content-Length", {400}, lambda: request(
    "POST", create, raw_head=b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: -5\r\n\r\n"),
    docker_shape=False)
case("two Content-Lengths", {400}, lambda: request(
    "POST", create,
    raw_head=b"POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
    docker_shape=False)
case("garbage request line", {400}, lambda: request(
    "GET", "/", raw_head=b"\x00\x01\x02 garbage\r\n\r\n"), docker_shape=False)
case("unknown API version", {400}, lambda: request("GET", "/v1.9999999999999999999/_ping"))


def truncated(head, body=b"", wait=0.2):
    """Sends part of a request and hangs up: the daemon must not care."""
    s = connect()
    s.sendall(head + body)
    time.sleep(wait)
    s.close()
    return 200, {}, b""


# A hijacked attach whose client goes away at once, one that sends half a stdin frame,
# an exec start cut off in its body, and an upload cut off mid-tar.
case("attach hung up after the head", None, lambda: truncated(
    f"POST /containers/{CONTAINER}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: d\r\n"
    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode()))
case("attach request cut in its head", None, lambda: truncated(
    f"POST /containers/{CONTAINER}/attach?stream=1&std".encode()))


def exec_cut():
    st, _, b = request("POST", f"/containers/{CONTAINER}/exec",
                       json.dumps({"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True}).encode(), JSON)
    if st != 201:
        return st, {}, b
    eid = json.loads(b)["Id"]
    truncated(f"POST /exec/{eid}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
              "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 40\r\n\r\n".encode(), b'{"Detach":')
    truncated(f"POST /exec/{eid}/start HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
              "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 15\r\n\r\n".encode(),
              b'{"Detach":false}'[:15] + b"\x00\x01\x02")
    return 200, {}, b""


case("exec start cut off", None, exec_cut)
case("cp upload cut off", None, lambda: truncated(
    f"PUT /containers/{CONTAINER}/archive?path=/tmp HTTP/1.1\r\nHost: d\r\n"
    "Content-Type: application/x-tar\r\nContent-Length: 100000\r\n\r\n".encode(), tar_of([("f", b"z" * 9000)])[:3000]))
case("load cut off", None, lambda: truncated(
    b"POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: 100000\r\n\r\n",
    tar_of([("manifest.json", b"[]")])[:600]))

print(f"{len(failures)} failed" if failures else "all malformed cases passed")
sys.exit(1 if failures else 0)
