"""Fixtures for evloop.aio's tests: a loop, TLS contexts that trust each other, a file to send."""

import os
import ssl

import pytest
import trustme

from evloop.aio import EventLoop


@pytest.fixture
def loop():
    """An evloop.aio loop, closed after the test."""
    loop = EventLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def certs():
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.fixture
def content(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "content.bin"
    path.write_bytes(data)
    return path, data
