"""`memberflow serve` refuses to expose the unauthenticated local member API by accident."""

from __future__ import annotations

import pytest

from memberflow_local import cli
from memberflow_local.server import banner, is_loopback, refuse_remote_host
from memberflow_local.stack import LocalStack


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_addresses_count_as_local(host, loopback):
    assert is_loopback(host) is loopback
    assert (refuse_remote_host(host, allow_remote=False) is None) is loopback
    assert refuse_remote_host(host, allow_remote=True) is None


def test_serve_refuses_a_remote_host_before_starting_anything(monkeypatch, capsys):
    def must_not_start(self):
        raise AssertionError("the stack started")

    monkeypatch.setattr(LocalStack, "start", must_not_start)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "0.0.0.0" in err and "unauthenticated" in err and "--allow-remote" in err


def test_the_banner_says_what_is_unauthenticated():
    local = banner("127.0.0.1", 3000, "2026-01-05T08:00:00+00:00")
    assert local[0].startswith("memberflow local stack on http://127.0.0.1:3000")
    assert any("unauthenticated" in line and "member" in line for line in local)
    remote = banner("0.0.0.0", 3000, "2026-01-05T08:00:00+00:00")
    assert any("--allow-remote" in line and "0.0.0.0" in line for line in remote)
