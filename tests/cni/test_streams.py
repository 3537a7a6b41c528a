"""The stdlib-only building blocks: the ``_json`` codec and the HTTP/1.1 framing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cni import httpunix, streams
from cni.agentclient import AgentProtocolError, agent_error_from_wire, attachment_from_wire

DOCUMENTS: list[Any] = [
    {"cniVersion": "1.1.0", "name": "n", "nested": {"a": [1, 2.5, True, False, None]}},
    {"unicode": "pöd-ñame ☃", "escape": 'a"b\\c\n\t\u0001'},
    [],
    "text",
    12345678901234567890,
    -0.5,
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_codec_round_trips_like_json(document: Any) -> None:
    text = streams.dumps(document)
    assert json.loads(text) == document
    assert streams.loads(text) == document
    assert streams.loads(json.dumps(document, indent=2)) == document
    assert text.isascii()


@pytest.mark.parametrize(
    "text", ["", "  ", "{", '{"a":1} x', "NaN", '{"a":Infinity}', "[1,]", "{'a':1}", '"\x01"']
)
def test_codec_rejects_what_json_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        streams.loads(text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"bytes"])
def test_codec_refuses_to_encode_non_json(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        streams.dumps({"x": value})


@pytest.mark.parametrize(
    ("raw", "complete", "expected"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False, (200, b"{}"), id="length"
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", False, None, id="short"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Len", False, None, id="partial-head"),
        pytest.param(
            b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n',
            False,
            (500, b'{"a":1}'),
            id="chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}",
            False,
            None,
            id="chunk-partial",
        ),
        pytest.param(b"HTTP/1.0 204 No\r\n\r\n", True, (204, b""), id="until-close"),
        pytest.param(b"HTTP/1.0 200 OK\r\n\r\nabc", False, None, id="until-close-open"),
    ],
)
def test_http_response_framing(raw: bytes, complete: bool, expected: Any) -> None:
    assert httpunix._try_parse(raw, complete=complete) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_http_response_garbage(raw: bytes) -> None:
    with pytest.raises(httpunix.MalformedResponse):
        httpunix._try_parse(raw, complete=True)


def test_agent_error_body_with_contract_shape() -> None:
    error = agent_error_from_wire(409, b'{"code":7,"msg":"m","details":"d","extra":{}}')
    assert (error.code, error.msg, error.details) == (7, "m", "d")


def test_attachment_from_wire_checks_types() -> None:
    good = {
        "host_ifname": "fnabc", "host_mac": "ee:ee:ee:ee:ee:ee", "ifname": "eth0",
        "mac": "0a:58:0a:01:00:05", "sandbox": "/run/netns/x", "mtu": 1500,
        "ips": [{"address": "10.1.0.5/32", "gateway": "169.254.1.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}, {"dst": "10.0.0.0/8", "gw": None}],
    }  # fmt: skip
    attachment = attachment_from_wire(good)
    assert attachment.routes[1].gw is None
    broken_replies: list[object] = [
        {**good, "mtu": "1500"},
        {**good, "ips": {"a": 1}},
        {**good, "mac": None},
        [],
    ]
    for broken in broken_replies:
        with pytest.raises(AgentProtocolError):
            attachment_from_wire(broken)
