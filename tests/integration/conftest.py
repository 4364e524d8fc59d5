"""Fixtures of the integration tests that need a service of this machine."""
import os

import pytest
import redis

REDIS_SERVER = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379"
TEST_DB_INDEX = 13  # this suite's own; emptied before and after


@pytest.fixture
def redis_queue():
    """A queue URL on this machine's Redis, on a database index of the suite's own, emptied after."""
    url = f"{REDIS_SERVER.rstrip('/')}/{TEST_DB_INDEX}"
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


