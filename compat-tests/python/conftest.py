def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "beyond_dockerd: dockbridge does better than the reference dockerd here (a race "
        "dockerd loses); deselected when the suite checks the reference",
    )
