"""A fault-injecting TCP proxy: forwards a loopback port to an upstream, and on request loses,
cuts, resets or delays what the upstream answers.

It knows no protocol. A *request* is what a client sends between two replies; a *reply* is
what the upstream sends after a request, up to the client's next request. That is exactly the
shape of HTTP/1.1, the PostgreSQL and MySQL wire protocols and RESP, so a fault can be aimed at
the reply to one write by a substring of its request (``b"PUT "``, ``b"COMMIT"``,
``b"EVALSHA"``)::

    with fault_proxy("127.0.0.1", 5432) as proxy:       # connect to proxy.port instead
        trigger = proxy.arm(DROP_REPLY, match=b"COMMIT")
        ...                                            # the COMMIT runs, its reply is lost
        assert trigger.fired == 1

Faults (:class:`Fault`) are chosen three ways, the first that applies winning:

- :meth:`FaultProxy.arm`: the next ``times`` replies whose request matches;
- :meth:`FaultProxy.arm_connections`: every reply of the next ``count`` connections accepted;
- :meth:`FaultProxy.set_fault`: every reply on every connection, until changed.

The proxy runs its own event loop in one thread. Everything here may be called from any
thread; counters are read with :meth:`FaultProxy.stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

Match = bytes | Callable[[bytes], bool] | None

#: A request is matched on at most this many of its last bytes.
MAX_REQUEST_BYTES = 1 << 20


@dataclass(frozen=True)
class Fault:
    """What happens to a reply (or a connection).

    Attributes:
        at: ``"reply"``: wait for the upstream's reply, relay ``relay`` bytes of it, then cut
            (``relay=None``: relay it all and cut nothing). ``"request"``: cut right after the
            request was forwarded upstream, without waiting for the reply. ``"connect"``: cut a
            connection as soon as it is accepted, before the upstream is contacted (for
            :meth:`FaultProxy.arm_connections` and :meth:`FaultProxy.set_fault`).
        relay: bytes of the reply relayed before the cut.
        cut: ``"close"`` (FIN, after what was relayed) or ``"reset"`` (RST: ``SO_LINGER`` 0;
            bytes the kernel has not sent yet are discarded, as a reset does). The upstream side
            is always closed normally: the upstream saw its request and answered.
        delay: seconds the reply is held before it is relayed (or cut).
    """

    at: Literal["reply", "request", "connect"] = "reply"
    relay: int | None = None
    cut: Literal["close", "reset"] = "close"
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.at != "reply" and (self.relay is not None or self.delay):
            raise ValueError("relay and delay apply to a reply: use at='reply'")
        if self.relay is not None and self.relay < 0 or self.delay < 0:
            raise ValueError("relay and delay must not be negative")

    @property
    def cuts(self) -> bool:
        return self.at != "reply" or self.relay is not None

    @property
    def name(self) -> str:
        """``"reset"``, ``"drop"`` (nothing of the reply relayed), ``"truncate"`` or ``"delay"``."""
        if not self.cuts:
            return "delay"
        if self.cut == "reset":
            return "reset"
        return "truncate" if self.relay else "drop"


#: "The write reached the upstream, the reply was lost": the reply is read, then the
#: connection is closed without relaying a byte of it.
DROP_REPLY = Fault(relay=0)
#: The request is forwarded, then the connection is closed at once; the upstream still has the
#: request (its outcome is whatever the upstream does with a request whose client left).
DROP_AFTER_REQUEST = Fault(at="request")
RESET_REPLY = Fault(relay=0, cut="reset")
RESET_AFTER_REQUEST = Fault(at="request", cut="reset")
RESET_ON_CONNECT = Fault(at="connect", cut="reset")


def truncate_reply(relay: int, *, cut: Literal["close", "reset"] = "close") -> Fault:
    """Relay the first ``relay`` bytes of the reply, then cut."""
    return Fault(relay=relay, cut=cut)


def delay_reply(seconds: float) -> Fault:
    """Hold the reply ``seconds``, then relay it."""
    return Fault(delay=seconds)


class Trigger:
    """An armed fault (or, with no fault, a watch that only counts matching requests).

    Attributes:
        seen: requests that matched (each counted once).
        taken: uses of the fault handed to a reply or connection, at most ``times``. A reply
            fault is taken when the first bytes of a reply to a matching request arrive (and
            match ``reply_match``); a fault acting at the request, when the request matches.
        fired: replies (or connections) the fault took effect on: once per use, at its first
            effect (a delay starting, or the cut).
    """

    def __init__(
        self, fault: Fault | None, match: Match, times: int | None, reply_match: Match = None
    ) -> None:
        self.fault = fault
        self.times = times
        self.seen = 0
        self.taken = 0
        self.fired = 0
        self._matches = _matcher(match)
        self._reply_matches = _matcher(reply_match)
        self._done = threading.Event()
        self.cancelled = False

    def matches(self, request: bytes) -> bool:
        return self._matches(request)

    def reply_matches(self, first_bytes: bytes) -> bool:
        return self._reply_matches(first_bytes)

    @property
    def done(self) -> bool:
        """Every use was taken, or the trigger was cancelled."""
        return self._done.is_set()

    def wait(self, timeout: float) -> bool:
        """Wait until every use was taken; whether it was."""
        return self._done.wait(timeout)

    def cancel(self) -> None:
        self.cancelled = True
        self._done.set()

    def _take(self) -> bool:
        if self.done or self.fault is None:
            return False
        self.taken += 1
        if self.times is not None and self.taken >= self.times:
            self._done.set()
        return True

    def __repr__(self) -> str:
        return f"Trigger({self.fault}, seen={self.seen}, taken={self.taken}, fired={self.fired})"


def _matcher(match: Match) -> Callable[[bytes], bool]:
    if match is None:
        return lambda _request: True
    if isinstance(match, bytes):
        return lambda request: match in request
    return match


@dataclass(frozen=True)
class Stats:
    """Counters since the proxy started."""

    connections: int  # accepted
    active: int  # open now
    client_bytes: int  # received from clients (all forwarded upstream)
    upstream_bytes: int  # received from the upstream
    relayed_bytes: int  # of those, sent on to clients
    faults: dict[str, int] = field(default_factory=dict)  # by Fault.name: effects


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:<port>`` to ``upstream``; use :func:`fault_proxy`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()
        self._triggers: list[Trigger] = []
        self._connection_triggers: list[Trigger] = []
        self._global: Fault | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._counts: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._stopping = False

    # -- control, from any thread ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether its thread is alive: from :meth:`start` until :meth:`close` returns."""
        return self._thread.is_alive()

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((self.host, 0))
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, cut every connection, stop the loop and its thread."""
        if self._loop is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_fault(self, fault: Fault | None) -> None:
        """Apply ``fault`` to every reply (``at="connect"``: every new connection); ``None``
        passes everything through again."""
        with self._lock:
            self._global = fault

    def arm(
        self, fault: Fault, *, match: Match = None, reply_match: Match = None, times: int = 1
    ) -> Trigger:
        """Apply ``fault`` to the next ``times`` replies whose request matches ``match`` (a
        substring of the request, a predicate on it, or ``None`` for any request) and whose
        first bytes (one read from the upstream) match ``reply_match``: with
        ``reply_match=b"HTTP/1.1 2"``, only a successful write's reply is lost."""
        if fault.at == "connect":
            raise ValueError("a reply trigger cannot act at connect: use arm_connections")
        if fault.at == "request" and reply_match is not None:
            raise ValueError("a fault acting at the request is decided before any reply")
        trigger = Trigger(fault, match, times, reply_match)
        with self._lock:
            self._triggers.append(trigger)
        return trigger

    def arm_connections(self, fault: Fault, *, count: int = 1) -> Trigger:
        """Apply ``fault`` to every reply of the next ``count`` connections accepted
        (``at="connect"``: cut them at once)."""
        trigger = Trigger(fault, None, count)
        with self._lock:
            self._connection_triggers.append(trigger)
        return trigger

    def watch(self, match: Match) -> Trigger:
        """Count the requests matching ``match`` (``.seen``), changing nothing."""
        trigger = Trigger(None, match, None)
        with self._lock:
            self._triggers.append(trigger)
        return trigger

    def cut_all(self, *, reset: bool = True) -> int:
        """Cut every open connection now (RST, or FIN with ``reset=False``); how many."""

        async def cut() -> int:
            links = list(self._links)
            for link in links:
                link.close(reset=reset)
            return len(links)

        assert self._loop is not None, "the proxy was not started"
        return asyncio.run_coroutine_threadsafe(cut(), self._loop).result(10)

    def upstream_ports(self) -> set[int]:
        """The local ports of the open connections to the upstream: how the upstream sees
        this proxy's clients (``pg_stat_activity.client_port``, MariaDB's process list
        ``Host``, Redis's ``CLIENT LIST`` ``addr``)."""
        with self._lock:
            return {link.upstream_port for link in self._links if link.upstream_port}

    def stats(self) -> Stats:
        with self._lock:
            return Stats(
                connections=self._counts["connections"],
                active=len(self._links),
                client_bytes=self._counts["client_bytes"],
                upstream_bytes=self._counts["upstream_bytes"],
                relayed_bytes=self._counts["relayed_bytes"],
                faults=dict(self._faults),
            )

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the loop thread ------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._loop is not None and self._listener is not None
        asyncio.set_event_loop(self._loop)
        self._accepting = self._loop.create_task(self._accept(self._listener))
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _accept(self, listener: socket.socket) -> None:
        # Accepted by hand rather than by loop.create_server: a Server closed while an accept
        # is under way leaves that socket open (Server._attach asserts, Python 3.11).
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            if self._stopping:
                conn.close()
                return
            try:
                await loop.connect_accepted_socket(lambda: _ClientSide(self), conn)
            except OSError:
                conn.close()

    async def _stop(self) -> None:
        assert self._accepting is not None and self._listener is not None
        self._stopping = True
        with socket.socket() as wake:  # the accept loop takes it, sees _stopping and returns
            wake.setblocking(False)
            await asyncio.get_running_loop().sock_connect(wake, (self.host, self.port))
            await self._accepting
        self._listener.close()  # connections never accepted are reset by the kernel
        for link in list(self._links):
            link.close(reset=False, abort=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _ in range(5):  # the transports' connection_lost callbacks close their sockets
            await asyncio.sleep(0)
        with self._lock:
            for trigger in self._triggers + self._connection_triggers:
                trigger.cancel()

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount

    def _accepted(self, link: _Link) -> None:
        if self._stopping:
            link.close(abort=True)
            return
        with self._lock:
            self._counts["connections"] += 1
            self._links.add(link)
            for armed in self._connection_triggers:
                if armed._take():
                    link.connection_fault, link.connection_trigger = armed.fault, armed
                    break
            self._connection_triggers = [t for t in self._connection_triggers if not t.done]
            fault, trigger = link.connection_fault, link.connection_trigger
            if fault is None and self._global is not None and self._global.at == "connect":
                fault = self._global
        if fault is not None and fault.at == "connect":
            link.cut(fault, trigger)
            return
        assert self._loop is not None
        task = self._loop.create_task(link.connect_upstream(*self.upstream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _match(self, link: _Link) -> None:
        """Count the triggers matching ``link``'s request; hand it a fault that acts at the
        request, or note the reply faults it may take when its reply comes."""
        request = bytes(link.request)
        with self._lock:
            for trigger in self._triggers:
                if id(trigger) in link.counted or trigger.done or not trigger.matches(request):
                    continue
                link.counted.add(id(trigger))
                trigger.seen += 1
                if trigger.fault is None:
                    continue
                if trigger.fault.at == "reply":
                    link.candidates.append(trigger)
                elif link.reply_fault is None and trigger._take():
                    link.reply_fault, link.reply_trigger = trigger.fault, trigger
            self._triggers = [t for t in self._triggers if not t.done]

    def _claim(self, link: _Link, first_bytes: bytes) -> None:
        """A reply begins: it takes the first candidate fault that is still armed and whose
        reply predicate matches."""
        with self._lock:
            candidates, link.candidates = link.candidates, []
            if link.reply_fault is not None:
                return
            for trigger in candidates:
                if trigger.reply_matches(first_bytes) and trigger._take():
                    link.reply_fault, link.reply_trigger = trigger.fault, trigger
                    return

    def _effective(self, link: _Link) -> tuple[Fault | None, Trigger | None]:
        if link.reply_fault is not None:
            return link.reply_fault, link.reply_trigger
        if link.connection_fault is not None:
            return link.connection_fault, link.connection_trigger
        with self._lock:
            return self._global, None

    def _fired(self, fault: Fault, trigger: Trigger | None, name: str) -> None:
        with self._lock:
            self._faults[name] += 1
            if trigger is not None and (name == "delay" or not fault.delay):
                trigger.fired += 1  # once per reply: at its first effect


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: FaultProxy, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: asyncio.Transport | None = None
        self.upstream_port: int | None = None
        self.backlog: list[bytes] = []  # client bytes received before the upstream connected
        self.request = bytearray()
        self.replying = True  # the upstream spoke last: the client's next bytes are a request
        self.counted: set[int] = set()  # triggers that counted this request
        self.candidates: list[Trigger] = []  # reply faults this request's reply may take
        self.reply_fault: Fault | None = None
        self.reply_trigger: Trigger | None = None
        self.connection_fault: Fault | None = None
        self.connection_trigger: Trigger | None = None
        self.relayed = 0  # bytes of the faulted reply relayed
        self.delayed = False  # this reply was held already
        self.held: list[bytes] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.close_when_released = False
        self.cut_when_connected: tuple[Fault, Trigger | None] | None = None
        self.closed = False

    async def connect_upstream(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_connection(lambda: _UpstreamSide(self), host, port)
        except OSError:
            self.close()
            return
        if self.closed:
            transport.close()
            return
        self.upstream = transport
        sockname = transport.get_extra_info("sockname")
        with self.proxy._lock:
            self.upstream_port = sockname[1] if sockname else None
        for chunk in self.backlog:
            transport.write(chunk)
        self.backlog.clear()
        if self.cut_when_connected is not None:
            self.cut(*self.cut_when_connected)

    def from_client(self, data: bytes) -> None:
        if self.closed:
            return
        self.proxy._count("client_bytes", len(data))
        if self.replying:  # a new request begins
            self.replying = False
            self.request.clear()
            self.counted.clear()
            self.candidates.clear()
            self.delayed = False
            self.relayed = 0
            self.reply_fault = self.reply_trigger = None
        self.request += data
        del self.request[:-MAX_REQUEST_BYTES]
        if self.upstream is None:
            self.backlog.append(data)
        else:
            self.upstream.write(data)
        self.proxy._match(self)
        fault, trigger = self.proxy._effective(self)
        if fault is not None and fault.at == "request":
            if self.upstream is None:
                self.cut_when_connected = (fault, trigger)
            else:
                self.cut(fault, trigger)

    def from_upstream(self, data: bytes) -> None:
        if self.closed:
            return
        self.proxy._count("upstream_bytes", len(data))
        if not self.replying:
            self.replying = True
            self.proxy._claim(self, data)
        if self.held is not None:
            self.held.append(data)
            return
        fault, trigger = self.proxy._effective(self)
        if fault is not None and fault.delay and not self.delayed:
            self.delayed = True
            self.held = [data]
            self.proxy._fired(fault, trigger, "delay")
            self.timer = asyncio.get_running_loop().call_later(fault.delay, self.release)
            return
        self.relay(data, fault, trigger)

    def release(self) -> None:
        """The delay is over: relay (or cut) what was held."""
        held, self.held, self.timer = self.held or [], None, None
        fault, trigger = self.proxy._effective(self)
        for chunk in held:
            if self.closed:
                return
            self.relay(chunk, fault, trigger)
        if self.close_when_released:
            self.close()

    def relay(self, data: bytes, fault: Fault | None, trigger: Trigger | None) -> None:
        if fault is None or fault.relay is None:
            self.send(data)
            if fault is not None and fault is self.reply_fault:
                self.reply_fault = self.reply_trigger = None  # a delay: done with this reply
            return
        part = data[: max(0, fault.relay - self.relayed)]
        self.send(part)
        self.relayed += len(part)
        if self.relayed >= fault.relay:
            self.cut(fault, trigger)

    def send(self, data: bytes) -> None:
        if data:  # counted first: the client may act on the bytes before this thread runs on
            self.proxy._count("relayed_bytes", len(data))
            self.client.write(data)

    def cut(self, fault: Fault, trigger: Trigger | None) -> None:
        self.proxy._fired(fault, trigger, fault.name)
        self.close(reset=fault.cut == "reset")

    def upstream_lost(self) -> None:
        if self.held is not None:  # relay what the upstream said before it left
            self.close_when_released = True
            if self.upstream is not None:
                self.upstream.close()
            return
        self.close()

    def close(self, *, reset: bool = False, abort: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if reset:
            sock = self.client.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    linger = struct.pack("ii", 1, 0)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        if self.upstream is not None:
            if abort:
                self.upstream.abort()
            else:
                self.upstream.close()  # after the request it may still have to send
        if reset or abort:
            self.client.abort()
        else:
            self.client.close()  # after what was relayed
        self.proxy._forget(self)


class _ClientSide(asyncio.Protocol):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self.link: _Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.link = _Link(self.proxy, transport)
        self.proxy._accepted(self.link)

    def data_received(self, data: bytes) -> None:
        assert self.link is not None
        self.link.from_client(data)

    def eof_received(self) -> bool:
        assert self.link is not None
        self.link.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.close()

    def pause_writing(self) -> None:
        if self.link is not None and self.link.upstream is not None:
            self.link.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.link is not None and self.link.upstream is not None:
            self.link.upstream.resume_reading()


class _UpstreamSide(asyncio.Protocol):
    def __init__(self, link: _Link) -> None:
        self.link = link

    def data_received(self, data: bytes) -> None:
        self.link.from_upstream(data)

    def eof_received(self) -> bool:
        self.link.upstream_lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.upstream_lost()

    def pause_writing(self) -> None:
        self.link.client.pause_reading()

    def resume_writing(self) -> None:
        self.link.client.resume_reading()


@contextlib.contextmanager
def fault_proxy(upstream_host: str, upstream_port: int) -> Iterator[FaultProxy]:
    """A started :class:`FaultProxy` to ``upstream_host:upstream_port``, closed afterwards."""
    with FaultProxy(upstream_host, upstream_port) as proxy:
        yield proxy
