"""`[metrics] listen`: Prometheus text at `/metrics`, `/healthz`, and nothing else (404).

Served by the SMTP edge process from threads (wsgiref's server with a thread per request,
as prometheus_client's own `start_wsgi_server`), never from the SMTP event loop: a scrape
reads the worker's metric files and the databases' backlog, and a slow scraper must not
hold up a 250. A request must arrive within REQUEST_TIMEOUT seconds, so idle connections
end. The socket is bound before the daemon reports READY: a taken port or a bad address
stops the start with exit 78, naming `metrics.listen`.

`/metrics` is every process's counters (prometheus_client's multiprocess collector over
`$PROMETHEUS_MULTIPROC_DIR`, see metrics.py) plus gauges read at scrape time: the spool
backlog, held mail and the oldest waiting message's age, the outbox backlog, and `up`-style
`maildaemon_healthy`. `/healthz` is `health.check()`: 200 "ok", or 503 with the reason.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from maildaemon.backlog import BacklogReader
from maildaemon.health import Health

log = logging.getLogger("maildaemon.metrics")

REQUEST_TIMEOUT = 10.0
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MetricsError(Exception):
    """The endpoint cannot be served (address taken, not ours): a configuration error."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    timeout = REQUEST_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Scrapes every 15 s are not news; wsgiref would write each to stderr."""


class BacklogCollector:
    """The gauges, read when scraped (a few indexed reads; never per message)."""

    def __init__(self, backlog: BacklogReader, health: Health) -> None:
        self.backlog = backlog
        self.health = health

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        verdict = self.health.check()
        yield GaugeMetricFamily("maildaemon_healthy", "1 when /healthz says ok, else 0",
                                value=1 if verdict.healthy else 0)
        try:
            now = self.backlog.read()
        except Exception as exc:  # noqa: BLE001 - the counters are still worth serving
            log.warning("metrics: backlog unreadable: %s: %s", type(exc).__name__, exc)
            return
        for name, text, number in (
            ("maildaemon_spool_backlog", "Messages waiting for (or in) the worker",
             now.spool_pending),
            ("maildaemon_spool_held", "Messages held in the spool for an operator",
             now.spool_held),
            ("maildaemon_spool_oldest_age_seconds",
             "How long the oldest waiting message has waited (0 with none)", now.oldest_age),
            ("maildaemon_outbox_backlog", "Outgoing mail waiting for (re)delivery",
             now.outbox_pending),
        ):
            yield GaugeMetricFamily(name, text, value=number)


class Exporter:
    def __init__(self, host: str, port: int, health: Health, backlog: BacklogReader,
                 multiproc_dir: str) -> None:
        self.health = health
        self.backlog = backlog
        self.multiproc_dir = multiproc_dir
        server_class = _Server6 if ":" in host else _Server
        try:
            self.server = make_server(host, port, self.app, server_class=server_class,
                                      handler_class=_Quiet)
        except (OSError, UnicodeError) as exc:
            raise MetricsError(f"metrics.listen: cannot listen on {host}:{port}: "
                               f"{exc.strerror if isinstance(exc, OSError) else exc}"
                               ) from None
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in ("/metrics", "/healthz"):
            return _reply(start_response, "404 Not Found", b"not found\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", b"GET only\n",
                          [("Allow", "GET, HEAD")])
        if path == "/healthz":
            verdict = self.health.check()
            return _reply(start_response, "200 OK" if verdict.healthy
                          else "503 Service Unavailable", f"{verdict.reason}\n".encode())
        return self._metrics(start_response)

    def _metrics(self, start_response: StartResponse) -> Iterable[bytes]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        registry.register(BacklogCollector(self.backlog, self.health))
        return _reply(start_response, "200 OK", generate_latest(registry),
                      content_type=CONTENT_TYPE_LATEST)


def _reply(start_response: StartResponse, status: str, body: bytes,
           headers: list[tuple[str, str]] | None = None,
           content_type: str = "text/plain; charset=utf-8") -> list[bytes]:
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]
