import pytest


@pytest.fixture(params=["", "/wp"], ids=["no-root-path", "root-path-wp"])
def root_path(request: pytest.FixtureRequest) -> str:
    """Access is decided by the route that matched: the same answers behind a proxy's prefix."""
    prefix: str = request.param
    return prefix
