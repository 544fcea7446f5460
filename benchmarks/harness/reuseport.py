"""uvicorn with one listening socket per worker (``SO_REUSEPORT``).

``uvicorn --workers N`` shares one listening socket between its workers, and the first worker
to wake accepts every connection waiting: with wrk's 8 keep-alive connections opened at once,
one run in four or five put all 8 on one worker and measured half the server. Here each
worker binds its own socket to the same port with ``SO_REUSEPORT``, so the kernel spreads
connections across the workers by a hash of their addresses (all 8 on one worker of 2: one
run in 128).

Run as a script: ``reuseport.py FACTORY HOST PORT WORKERS``; it starts WORKERS children of
itself and waits for them. The harness stops the whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import uvicorn


def listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker(factory: str, host: str, port: int) -> None:
    config = uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        backlog=2048,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        worker(argv[1], argv[2], int(argv[3]))
        return 0
    factory, host, port, count = argv
    children = [
        subprocess.Popen([sys.executable, __file__, "--worker", factory, host, port])
        for _ in range(int(count))
    ]

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child in children]
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main(sys.argv[1:]))
