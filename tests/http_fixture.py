"""A real HTTP server on 127.0.0.1 for the SoundDescs tests, misbehaving on demand.

Per path it serves bytes, or (for the first `times` requests, or always when
times is None) misbehaves with one of:
  404     -- not found
  500     -- server error
  drop    -- Content-Length of the full body, half the body, then close
  slow    -- sleep `delay` s before answering (to exceed a client timeout)
  trickle -- full Content-Length, then `chunk` bytes every `delay` s (to be killed mid-body)
Every request is counted in `hits`. All waits are bounded and end when the server stops.
"""
from __future__ import annotations

import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {"404", "500", "drop", "slow", "trickle"}


class FixtureServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, dict] = {}
        self.hits: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: bytes) -> None:
        self.files[path] = body

    def misbehave(self, path: str, kind: str, times: int | None = None, delay: float = 1.0, chunk: int = 1024):
        assert kind in KINDS, kind
        self.faults[path] = dict(kind=kind, times=times, delay=delay, chunk=chunk)

    def behave(self, path: str) -> None:
        self.faults.pop(path, None)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()  # wakes sleeping handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _fault_for(self, path: str) -> dict | None:
        with self._lock:
            self.hits[path] += 1
            fault = self.faults.get(path)
            if fault is None:
                return None
            if fault["times"] is not None:
                if fault["times"] <= 0:
                    return None
                fault["times"] -= 1
            return dict(fault)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _headers(self, status: int, length: int) -> None:
                self.send_response(status)
                # pip reads an index page (a path ending in '/') only if it says it is HTML
                kind = "text/html" if self.path.endswith("/") else "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def do_GET(self):
                fault = server._fault_for(self.path)
                body = server.files.get(self.path)
                kind = fault["kind"] if fault else None
                try:
                    if kind == "slow":
                        if server._stop.wait(fault["delay"]):
                            return
                    if body is None or kind == "404":
                        self.send_error(404)
                    elif kind == "500":
                        self.send_error(500)
                    elif kind == "drop":
                        self._headers(200, len(body))
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                    elif kind == "trickle":
                        self._headers(200, len(body))
                        for i in range(0, len(body), fault["chunk"]):  # bounded by the body
                            self.wfile.write(body[i: i + fault["chunk"]])
                            self.wfile.flush()
                            if server._stop.wait(fault["delay"]):
                                return
                    else:
                        self._headers(200, len(body))
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client went away (timeouts, kills): expected here

        return Handler
