"""The harness of the PostgreSQL tests, checked on its own: a real server the suite starts
(``_pg.PostgresServer``) and the round-robin balancer in front of gateway replicas
(``_balancer.RoundRobin``). When these fail, the log-store tests built on them cannot be
trusted either way."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import psycopg
import pytest
from _balancer import RoundRobin
from _pg import PostgresServer

# -- the server ---------------------------------------------------------------------------------


def test_server_answers_on_loopback(postgres: PostgresServer) -> None:
    assert postgres.running
    assert postgres.url == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        # Reached over TCP on 127.0.0.1 (there is no Unix socket), and it writes UTF-8.
        assert conn.execute("SELECT host(inet_server_addr())").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)


def test_databases_are_isolated(postgres: PostgresServer, pg_url: str) -> None:
    other = postgres.create_database("test_harness_other")
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (v text)")
            conn.execute("INSERT INTO t VALUES ('here')")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("test_harness_other",)
            assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT v FROM t").fetchall() == [("here",)]
    finally:
        postgres.drop_database("test_harness_other")


def test_rows_survive_a_restart(postgres: PostgresServer, pg_url: str) -> None:
    port = postgres.port
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'één'), (2, '二')")
    postgres.restart()
    assert postgres.running
    assert postgres.port == port
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "één"), (2, "二")]


def test_rows_survive_an_immediate_stop(postgres: PostgresServer, pg_url: str) -> None:
    """``immediate`` skips the shutdown checkpoint, as a crash does: committed rows are
    recovered from the WAL on the next start (fsync off loses nothing while the OS runs)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
    postgres.restart(mode="immediate")
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), sum(v) FROM t").fetchone() == (100, 5050)


def test_a_stopped_server_refuses_connections(postgres: PostgresServer, pg_url: str) -> None:
    postgres.stop()
    try:
        assert not postgres.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_url, connect_timeout=5)
    finally:
        postgres.start()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_close_removes_the_data_directory(postgres: PostgresServer) -> None:
    # A second server of its own (``postgres`` only for its skip when there is none).
    with PostgresServer() as server:
        assert server.port != postgres.port
        root = server.root
        assert (server.data / "PG_VERSION").exists()
    assert not server.running
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=5)


# -- the balancer -------------------------------------------------------------------------------


class _Named(BaseHTTPRequestHandler):
    """Answers every GET with the name of its server; HTTP/1.1, so a client may keep the
    connection alive (HTTP/1.0, the default, would close it after each answer)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet


def _serve(server: socketserver.BaseServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def named_backends() -> Iterator[list[str]]:
    """Two HTTP servers on 127.0.0.1 answering "a" and "b"; their URLs."""
    servers = []
    for name in ("a", "b"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.name = name  # type: ignore[attr-defined]
        servers.append((server, _serve(server)))
    yield [f"http://127.0.0.1:{s.server_address[1]}" for s, _ in servers]
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def test_balancer_alternates_connections(named_backends: list[str]) -> None:
    with RoundRobin(named_backends) as lb:
        # A connection per request: no keep-alive, so each request is a new connection.
        with httpx2.Client(base_url=lb.url, limits=httpx2.Limits(max_keepalive_connections=0)) as client:
            answers = [client.get("/").text for _ in range(6)]
        assert answers == ["a", "b", "a", "b", "a", "b"]
        assert lb.connections == [3, 3]


def test_balancer_keeps_a_connection_on_one_backend(named_backends: list[str]) -> None:
    """Per connection, not per request: a kept-alive connection stays with its backend."""
    with RoundRobin(named_backends) as lb, httpx2.Client(base_url=lb.url) as client:
        assert [client.get("/").text for _ in range(3)] == ["a", "a", "a"]
        assert lb.connections == [1, 0]


class _Echo(socketserver.BaseRequestHandler):
    """Reads until the client's EOF, then answers its name and what it read, and closes."""

    def handle(self) -> None:
        data = b""
        while chunk := self.request.recv(65536):
            data += chunk
        self.request.sendall(self.server.name + b":" + data)  # type: ignore[attr-defined]


def test_balancer_passes_a_half_close_on() -> None:
    """The client's EOF reaches the backend while the way back stays open for its answer."""
    servers = []
    for name in (b"one", b"two"):
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
        server.daemon_threads = True
        server.name = name  # type: ignore[attr-defined]
        servers.append((server, _serve(server)))
    try:
        backends = [f"127.0.0.1:{s.server_address[1]}" for s, _ in servers]
        with RoundRobin(backends) as lb:
            answers = []
            for i in range(3):
                with socket.create_connection(("127.0.0.1", lb.port), timeout=10) as sock:
                    payload = f"hello {i} ".encode() * 20000  # more than one read's worth
                    sock.sendall(payload)
                    sock.shutdown(socket.SHUT_WR)
                    received = b""
                    while chunk := sock.recv(65536):
                        received += chunk
                    answers.append(received)
            assert answers == [
                b"one:" + b"hello 0 " * 20000,
                b"two:" + b"hello 1 " * 20000,
                b"one:" + b"hello 2 " * 20000,
            ]
            assert lb.connections == [2, 1]
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join()


def test_balancer_close_ends_open_connections(named_backends: list[str]) -> None:
    lb = RoundRobin(named_backends)
    sock = socket.create_connection(("127.0.0.1", lb.port), timeout=10)
    try:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # Read the whole answer, so the connection is surely piped when close() runs.
        head = b""
        while not head.endswith(b"\r\n\r\na"):
            head += sock.recv(1)
        lb.close()
        assert sock.recv(1) == b""  # closed by the balancer, not left hanging
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", lb.port), timeout=5).close()
    finally:
        sock.close()
        lb.close()


def test_balancer_accepts_host_port_and_urls() -> None:
    lb = RoundRobin(["127.0.0.1:1", "http://localhost:2/v1", "http://127.0.0.1"])
    try:
        assert lb.backends == [("127.0.0.1", 1), ("localhost", 2), ("127.0.0.1", 80)]
        assert lb.url == f"http://127.0.0.1:{lb.port}"
    finally:
        lb.close()
