from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
import socket
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

TOKENIZER_API_KEY = "ops-test-tokenizer-key-Zq81c0ffee"


@pytest.fixture
def api() -> APIClient:
    return APIClient(REMOTE_ADDR="81.2.69.160", HTTP_USER_AGENT="pytest-client/1.0")


def authenticator_settings(settings, **values) -> None:
    """Override keys of settings.AUTHENTICATOR (pytest-django restores them after the test)."""
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, **values}


@pytest.fixture
def http_tokenizer(settings, live_server) -> str:
    """The HTTP Tokenizer client against a real server (the live server serving the
    in-process signer), so the API key really travels. Returns the Tokenizer's URL."""
    url = live_server.url + "/tokenizer"
    authenticator_settings(
        settings, TOKENIZER_SERVE=True, TOKENIZER_URL=url, TOKENIZER_API_KEY=TOKENIZER_API_KEY,
        TOKENIZER_RETRIES=0, TOKENIZER_READ_TIMEOUT=10.0,
    )
    return url


@pytest.fixture
def refused_url() -> str:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class LogCapture:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        """Every line parsed; fails the test if one is not a JSON object."""
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


def _capture(settings, level: str) -> Iterator[LogCapture]:
    # The production LOGGING itself, only its console stream swapped for a buffer: what is
    # asserted here is what operators would read.
    stream = io.StringIO()
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["stream"] = stream
    config["handlers"]["console"]["formatter"] = "json"
    config["root"]["level"] = level
    for logger in config.get("loggers", {}).values():
        logger["level"] = level
    logging.config.dictConfig(config)
    saved = {}
    if level == "DEBUG":
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                saved[name] = (logger.level, logger.disabled)
                logger.setLevel(logging.DEBUG)
                logger.disabled = False
    try:
        yield LogCapture(stream)
    finally:
        for name, (lvl, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(lvl)
            logger.disabled = disabled
        logging.config.dictConfig(settings.LOGGING)


@pytest.fixture
def json_log(settings) -> Iterator[LogCapture]:
    """Log lines as the service writes them (settings.LOGGING, JSON), at INFO."""
    yield from _capture(settings, "INFO")


@pytest.fixture
def debug_log(settings) -> Iterator[LogCapture]:
    """Every logger at DEBUG, through settings.LOGGING's handler, filters and formatter."""
    yield from _capture(settings, "DEBUG")
