"""config/hypercorn.py: what the environment turns into."""

from __future__ import annotations

import pytest
from hypercorn.config import Config

from tests.cli.conftest import ROOT

ENV = ("H2_BIND", "HOST", "PORT", "H2_CERTFILE", "H2_KEYFILE", "H2_INSECURE_BIND", "H2_WORKERS", "WEB_CONCURRENCY",
       "H2_ACCESSLOG", "H2_KEEPALIVE")


@pytest.fixture
def load(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)

    def load(**env: str) -> Config:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return Config.from_pyfile(ROOT / "config" / "hypercorn.py")

    return load


def test_defaults_listen_on_every_interface_port_8443_cleartext(load):
    config = load()
    assert config.bind == ["0.0.0.0:8443"]
    assert config.ssl_enabled is False
    assert config.alpn_protocols == ["h2", "http/1.1"]
    assert config.keep_alive_timeout == 75
    assert config.accesslog is None  # the application logs each request itself


def test_host_and_port_as_for_gunicorn_and_h2_bind_wins(load, monkeypatch):
    assert load(HOST="127.0.0.1", PORT="9443").bind == ["127.0.0.1:9443"]
    assert load(H2_BIND="127.0.0.1:0, unix:/tmp/h2.sock").bind == ["127.0.0.1:0", "unix:/tmp/h2.sock"]


def test_workers_from_h2_workers_then_web_concurrency(load):
    assert load(WEB_CONCURRENCY="3").workers == 3
    assert load(WEB_CONCURRENCY="3", H2_WORKERS="5").workers == 5


def test_tls_with_both_files_and_extra_cleartext_listeners(load, tmp_path):
    config = load(H2_CERTFILE=str(tmp_path / "c.pem"), H2_KEYFILE=str(tmp_path / "k.pem"), H2_INSECURE_BIND="127.0.0.1:8080")
    assert config.ssl_enabled is True
    assert config.insecure_bind == ["127.0.0.1:8080"]


def test_cleartext_ignores_insecure_bind(load):
    assert load(H2_INSECURE_BIND="127.0.0.1:8080").insecure_bind == []


def test_only_settings_reach_hypercorn(load):
    config = load()
    assert not hasattr(config, "_env_int") and not hasattr(config, "_env_list")
