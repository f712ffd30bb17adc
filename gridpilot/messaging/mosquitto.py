"""The text of Mosquitto's password, ACL and config files for the fleet: pure, so the broker's rules can be tested.

Each device logs in with its id as username and its credential as password; the ACL lets it read
only its own schedule and write only its own acks, telemetry and status. With an acl_file, Mosquitto
denies whatever is not granted, and checks `read` per delivered message (retained ones too), so a
device subscribing to `{prefix}/devices/+/schedule` receives its own schedule and nothing of others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from gridpilot.protocol.mqtt import Channel, device_topic

# What Mosquitto's files can carry safely: no separator (`:`), whitespace, line breaks or topic wildcards.
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PREFIX = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_HASH = re.compile(r"^\$[0-9]+\$[!-~]+$")

_DEVICE_READS = (Channel.SCHEDULE,)
_DEVICE_WRITES = (Channel.ACKS, Channel.TELEMETRY, Channel.STATUS)


def _check_username(name: str) -> None:
    if not _USERNAME.match(name):
        raise ValueError(f"{name!r} cannot be a broker username (letters, digits, '.', '_', '-'; at most 64)")


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.match(prefix):
        raise ValueError(f"{prefix!r} is not a topic prefix (levels of letters, digits, '.', '_', '-' joined by '/')")


def password_file(accounts: Iterable[tuple[str, str]], server_user: str, server_hash: str) -> str:
    """Mosquitto's password file: the server's account, then one line per device; a name used twice is refused."""
    lines: dict[str, str] = {}
    for user, hashed in [(server_user, server_hash), *accounts]:
        _check_username(user)
        if not _HASH.match(hashed):
            raise ValueError(f"the password hash of {user!r} is not in Mosquitto's format")
        if user in lines:
            what = "the server's username" if user == server_user else "a username that has two active credentials"
            raise ValueError(f"{user!r} is {what}; every broker account must be unique")
        lines[user] = f"{user}:{hashed}\n"
    return "".join(lines.values())


def acl_file(prefix: str, server_user: str) -> str:
    """Mosquitto's ACL: the server may use every topic under the prefix; each device only its own channels."""
    _check_prefix(prefix)
    _check_username(server_user)
    lines = [
        "# Written by `gridpilot broker config`; anything not granted here is denied.",
        "# Devices (username = device id): read their own schedule, write their own records.",
        *(f"pattern read {device_topic(prefix, '%u', channel)}" for channel in _DEVICE_READS),
        *(f"pattern write {device_topic(prefix, '%u', channel)}" for channel in _DEVICE_WRITES),
        "",
        "# The gridpilot server: publishes schedules, reads every device's records.",
        f"user {server_user}",
        f"topic readwrite {prefix}/#",
    ]
    return "\n".join(lines) + "\n"


MAX_QUEUED_MESSAGES = 10_000_000
MAX_INFLIGHT_MESSAGES = 200


def mosquitto_conf(
    port: int,
    password_file_path: Path,
    acl_file_path: Path,
    persistence_dir: Path | None,
    *,
    bind_address: str | None = None,
    run_as_user: str | None = None,
) -> str:
    """A mosquitto.conf with one authenticated listener using the generated files; retained schedules persist.

    Started as root, Mosquitto drops to `run_as_user` (its default: `mosquitto`) before it reads the
    password file, so that user must be able to read it and write the persistence directory.
    """
    if not 0 < port < 65536:
        raise ValueError(f"{port} is not a TCP port")
    for path in (password_file_path, acl_file_path, *([persistence_dir] if persistence_dir else [])):
        if "\n" in str(path) or "\r" in str(path):
            raise ValueError(f"{str(path)!r} cannot go into mosquitto.conf")
    if bind_address is not None and not re.match(r"^[0-9A-Za-z.:_-]+$", bind_address):
        raise ValueError(f"{bind_address!r} is not an address to bind")
    lines = [
        "# Written by `gridpilot broker config`; reload with kill -HUP to re-read the password and ACL files.",
        "per_listener_settings false",
        "allow_anonymous false",
        # The worker's persistent session holds the devices' messages while it is down or busy; Mosquitto's
        # default of 1000 queued messages per client would drop the rest.
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        # QoS 1 messages in flight to one client before it acknowledges; the worker forwards that many at once.
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        f"password_file {password_file_path}",
        f"acl_file {acl_file_path}",
        f"listener {port}" + (f" {bind_address}" if bind_address else ""),
    ]
    if run_as_user is not None:
        _check_username(run_as_user)
        lines.append(f"user {run_as_user}")
    if persistence_dir is None:
        lines.append("persistence false")
    else:
        lines += ["persistence true", f"persistence_location {persistence_dir}/"]
    return "\n".join(lines) + "\n"
