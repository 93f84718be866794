"""Addresses of a distributed search: parse, format, find a free port."""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK = "127.0.0.1"
# Addresses that listen on every interface: local workers reach them on
# the loopback address.
_ANY_ADDRESSES = ("0.0.0.0", "::", "[::]")


def format_address(host, port):
    """`host:port`, with brackets around an IPv6 host."""
    host = str(host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    return f"{host}:{port}"


def parse_address(text, default_host=LOOPBACK):
    """`"HOST:PORT"`, `"PORT"` or `"[IPv6]:PORT"` -> `(host, port)`.

    Raises:
        ValueError: if the port is not a number between 1 and 65535.
    """
    text = str(text).strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = default_host, text
    try:
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536 or not host:
        raise ValueError(
            f"Invalid address {text!r}: expected HOST:PORT or PORT, with a "
            "port between 1 and 65535 (for example 127.0.0.1:8000)."
        )
    return host, number


def is_loopback(host) -> bool:
    """Whether `host` is reachable from this machine only."""
    host = str(host).strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host=LOOPBACK):
    """A TCP port that nothing listens on now, on `host`."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def connect_host(bind_host):
    """The address a worker on this machine uses to reach a chief on `bind_host`."""
    return LOOPBACK if bind_host in _ANY_ADDRESSES else bind_host
