def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "beyond_dockerd: dockbridge does better than the reference dockerd here (a race "
        "dockerd loses); deselected when the suite checks the reference",
    )
    config.addinivalue_line(
        "markers",
        "bridge: needs the engine's default bridge and user networks; run by "
        "scripts/pytest-bridge.sh inside a private network namespace",
    )
