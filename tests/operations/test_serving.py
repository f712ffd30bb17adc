"""`gridpilot serve --workers 2`: a socket per process (SO_REUSEPORT), connections spread over both, restarts."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import psutil

from tests.agent import processes
from tests.agent.processes import wait_for


def _children(pid: int) -> list[psutil.Process]:
    return [child for child in psutil.Process(pid).children() if "spawn_main" in " ".join(child.cmdline())]


def test_two_processes_share_the_port_the_load_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    server = processes.server(tmp_path, GRIDPILOT_WORKERS="2").start()
    try:
        assert server.process.popen is not None
        parent = server.process.popen.pid
        workers = wait_for("two server processes", lambda: len(c := _children(parent)) == 2 and c)
        port = int(server.url.rsplit(":", 1)[1])
        connections = []
        for _ in range(64):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 200")
            connections.append(sock)
        held = {w.pid: sum(c.status == psutil.CONN_ESTABLISHED for c in w.net_connections("tcp")) for w in workers}
        assert all(count > 0 for count in held.values()), held  # 64 connections all on one: odds of 2^-63
        for sock in connections:
            sock.close()

        workers[0].kill()
        replaced = wait_for(
            "a new server process",
            lambda: len(c := _children(parent)) == 2 and workers[0].pid not in {p.pid for p in c} and c,
        )
        wait_for("answers", lambda: server.get("/health/live"))
        server.process.signal(signal.SIGTERM)
        assert server.process.popen.wait(30) == 0
        assert not any(psutil.pid_exists(w.pid) for w in replaced)  # the supervisor waited for its workers
    finally:
        server.process.kill()
