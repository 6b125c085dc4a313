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

    cmd = (
        "sh -c 'mkdir -p /www && echo hello-from-httpd > /www/index.html"
        " && echo server-ready && exec busybox httpd -f -p 80 -h /www'"
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
