"""Who can reach ``dogbreeds app``: the address it listens on, checked before anything loads, and its login.

The app listens on this computer only (127.0.0.1) unless told otherwise. Another address
serves every computer that can reach it, so it needs ``--allow-network`` and a login
(``DOGBREEDS_APP_AUTH=user:password``). Imports neither Gradio nor TensorFlow: a wrong
address fails in one line, at once.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

from dogbreeds.core.errors import DogbreedsError

AUTH_ENV = "DOGBREEDS_APP_AUTH"


class AppStartError(DogbreedsError, OSError):
    """The app cannot start on this address or with this login (the message says what to change)."""


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this computer's loopback (127.0.0.1, ::1, localhost)."""
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return all(ipaddress.ip_address(address[4][0].split("%")[0]).is_loopback for address in found)


def check_address(host: str, port: int) -> None:
    """Raise AppStartError unless a server can listen on ``host``:``port`` now (nothing is kept open)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise AppStartError(f"--host {host}: no such address ({error}); use 127.0.0.1 (this computer only)") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as error:
            raise AppStartError(_bind_problem(host, port, error)) from None


def _bind_problem(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use (another app?): choose another with --port, e.g. --port {port + 1}"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this computer: use 127.0.0.1, or one of this computer's addresses"
    if error.errno == errno.EACCES:
        return f"no permission to listen on port {port} (ports below 1024 need root): use --port 7860"
    return f"cannot listen on {host}:{port} ({error.strerror or error})"


def login_from_environment() -> tuple[str, str] | None:
    """The (user, password) of ``DOGBREEDS_APP_AUTH=user:password``, None when unset."""
    value = os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise AppStartError(f"{AUTH_ENV} must be user:password (both non-empty)")
    return user, password


def check_exposure(host: str, allow_network: bool, login: tuple[str, str] | None) -> str | None:
    """A warning to print when ``host`` serves the network; AppStartError when that is not explicitly allowed."""
    if is_loopback(host):
        return None
    if not allow_network:
        raise AppStartError(
            f"--host {host} lets every computer that can reach this one use the app: add --allow-network "
            f"and set a login ({AUTH_ENV}=user:password), or leave --host out (this computer only)"
        )
    if login is None:
        raise AppStartError(f"--allow-network needs a login: set {AUTH_ENV}=user:password")
    return (
        f"dogbreeds: warning: the app is open to the network on {host} (login required as user {login[0]!r}); "
        "the connection is not encrypted"
    )
