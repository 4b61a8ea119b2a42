"""The local server as a process on someone's laptop: bursts of connections, idle sockets, foreign Host headers,
repeated signature headers, private files and a database that listens on loopback only."""

from __future__ import annotations

import http.client
import shutil
import socket
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from responder.ingest.signatures import sign_meta, sign_x
from responder_cli.local import dynamodb_local
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.stack import DEFAULT_SECRETS, LocalStack, loopback_host
from responder_cli.replay import Replayer, build_deliveries
from tests.conftest import fixture_bytes

pytestmark = pytest.mark.slow
X_SECRET = DEFAULT_SECRETS["RESPONDER_X_CONSUMER_SECRET"]
META_SECRET = DEFAULT_SECRETS["RESPONDER_META_APP_SECRET"]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    stack = LocalStack(port=0, data_dir=root / "data", outbox=root / "outbox" / "outbox.jsonl", log_level="ERROR",
                       idle_timeout=0.5).start()
    server = threading.Thread(target=stack.serve_forever, daemon=True)
    server.start()
    try:
        yield {"stack": stack, "base": f"http://127.0.0.1:{stack.port}", "root": root}
    finally:
        stack.server.shutdown()
        stack.stop()


def raw_request(port: int, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes = b"") -> tuple[int, bytes]:
    """One request with exactly these headers (repeated ones too), as http.client sends them."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("content-length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def stored_ids(base: str) -> set[str]:
    return {m["mention_id"] for m in requests.get(f"{base}/local/mentions", timeout=10).json()}


def test_fifty_concurrent_connections_are_all_answered(local):
    stack = local["stack"]
    port = stack.port
    # Given a server busy elsewhere: its accept loop paused, as when triage threads hold the CPU
    stack.server.shutdown()
    # When 50 senders connect at once (a connect that needs a SYN retransmission, 1 s on Linux, means the
    # listen backlog was full and the handshake was dropped)
    def connect(_: int) -> socket.socket | str:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=0.9)
        except OSError as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(50) as pool:
        connections = list(pool.map(connect, range(50)))
    opened = [c for c in connections if isinstance(c, socket.socket)]
    try:
        for sock in opened:
            sock.settimeout(10)
            sock.sendall(f"GET /local/nothing HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                         .encode())
    finally:
        threading.Thread(target=stack.serve_forever, daemon=True).start()  # serving again, whatever happened
    try:
        answers = [int(sock.makefile("rb").readline().split()[1]) for sock in opened]
    finally:
        for sock in opened:
            sock.close()
    # Then all 50 were queued by the kernel and each is answered (404: the route does not exist)
    assert [c if isinstance(c, str) else "connected" for c in connections] == ["connected"] * 50
    assert answers == [404] * 50


def test_idle_connections_are_closed_by_the_server(local):
    port = local["stack"].port
    # Given three connections that send nothing, and one that goes idle after a keep-alive request
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    kept = socket.create_connection(("127.0.0.1", port), timeout=10)
    kept.sendall(f"GET /local/nothing HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    reader = kept.makefile("rb")
    assert reader.readline().split()[1] == b"404"
    while reader.readline() not in (b"\r\n", b""):
        pass
    reader.read(len(b'{"error": "not found"}'))
    try:
        # When they stay idle past the server's idle timeout (0.5 s here, 15 s by default)
        # Then the server closes each of them: a read returns end-of-stream (a timeout here would mean held open)
        for sock in idle:
            assert sock.recv(1) == b""
        assert reader.read(1) == b""
    finally:
        for sock in [*idle, kept]:
            sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8787", "localhost", "LOCALHOST:80", "[::1]", "[::1]:8787"])
def test_loopback_host_headers_are_accepted(host):
    assert loopback_host(host)


@pytest.mark.parametrize("host", [None, "", "evil.example", "evil.example:8787", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8787", "127.0.0.2", "[::1]evil", "[::2]:8787",
                                  "localhost:notaport", "localhost:123456", "0.0.0.0:8787"])
def test_other_host_headers_are_refused(host):
    assert not loopback_host(host)


def test_a_page_rebound_to_loopback_cannot_read_or_deliver(local):
    port, base = local["stack"].port, local["base"]
    # Given a stored mention (a private message)
    body = fixture_bytes("x/aaa_direct_message_events.json")
    assert requests.post(f"{base}/webhooks/x", data=body, timeout=10,
                         headers={"x-twitter-webhooks-signature": sign_x(X_SECRET, body)}).status_code == 200
    assert stored_ids(base)
    # When a page whose DNS name now points at 127.0.0.1 asks for the mentions, or delivers a signed body
    status, listed = raw_request(port, "GET", "/local/mentions", [("Host", f"rebind.evil.example:{port}")])
    other = fixture_bytes("x/xaa_post_mention_create.json")
    posted, _ = raw_request(port, "POST", "/webhooks/x", [("Host", "rebind.evil.example"),
                                                          ("x-twitter-webhooks-signature", sign_x(X_SECRET, other))],
                            other)
    missing, _ = raw_request(port, "GET", "/local/mentions", [])
    doubled, _ = raw_request(port, "GET", "/local/mentions", [("Host", f"127.0.0.1:{port}"),
                                                              ("Host", "rebind.evil.example")])
    # Then each is refused as misdirected (no Host, or two, included), no mention text leaves, nothing is stored
    assert (status, posted, missing, doubled) == (421, 421, 421, 421)
    assert b"text" not in listed and b"mention_id" not in listed
    assert "3200000000000000001" not in stored_ids(base)
    # And loopback names are answered as before
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        assert raw_request(port, "GET", "/local/mentions", [("Host", host)])[0] == 200


def test_replay_against_the_local_server_still_works(local):
    # Given `responder replay --url` pointed at the local server
    deliveries = build_deliveries(None, count=4, surge=0, seed=3, duplicates=0.0)
    report = Replayer(local["base"], X_SECRET, META_SECRET, concurrency=2).run(deliveries)
    # Then every delivery is accepted and stored
    assert [s.status for s in report.sent] == [200] * len(deliveries)
    assert {d.mention_id for d in deliveries} <= stored_ids(local["base"])


@pytest.mark.parametrize("platform, header, sign, fixture", [
    ("x", "x-twitter-webhooks-signature", lambda b: sign_x(X_SECRET, b), "x/xaa_post_reply_create.json"),
    ("meta", "X-Hub-Signature-256", lambda b: sign_meta(META_SECRET, b), "meta/instagram_comment.json"),
])
def test_two_signature_headers_are_joined_like_api_gateway_and_refused(local, platform, header, sign, fixture):
    port, base = local["stack"].port, local["base"]
    body = fixture_bytes(fixture)
    before = stored_ids(base)
    # Given a correctly signed body sent with a second, forged signature header (either order)
    for first, second in ((sign(body), "sha256=forged"), ("sha256=forged", sign(body))):
        status, _ = raw_request(port, "POST", f"/webhooks/{platform}",
                                [("Host", f"127.0.0.1:{port}"), ("content-type", "application/json"),
                                 (header, first), (header, second)], body)
        # Then API Gateway would join them into "a,b", which matches no signature: 403, nothing stored
        assert status == 403
    assert stored_ids(base) == before
    # And the same body with its one signature is accepted
    assert raw_request(port, "POST", f"/webhooks/{platform}", [("Host", f"127.0.0.1:{port}"),
                                                               (header, sign(body))], body)[0] == 200


def test_outbox_and_database_are_readable_by_their_owner_only(local):
    root, base = local["root"], local["base"]
    body = fixture_bytes("x/xaa_dm_received.json")
    assert requests.post(f"{base}/webhooks/x", data=body, timeout=10,
                         headers={"x-twitter-webhooks-signature": sign_x(X_SECRET, body)}).status_code == 200
    # Given the stack has written its database (and its outbox exists from the start)
    files = [p for p in (root / "data").iterdir() if p.is_file()]
    assert files
    # Then the data directory is 0700 and every file in it, and the outbox, 0600
    assert stat.S_IMODE((root / "data").stat().st_mode) == 0o700
    for path in [*files, root / "outbox" / "outbox.jsonl"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net shows them) of the sockets listening on this TCP port."""
    found = []
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


LOOPBACK = {"0100007F",  # 127.0.0.1
            "0000000000000000FFFF00000100007F",  # ::ffff:127.0.0.1
            "00000000000000000000000001000000"}  # ::1


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_dynamodb_local_listens_on_loopback_only(local):
    dynamodb = local["stack"].dynamodb
    # Given DynamoDB Local started by the stack (through its loopback launcher when a JDK is present)
    if not dynamodb.loopback_only:
        pytest.skip("no javac: DynamoDB Local runs from its jar, which has no host option")
    # Then it listens on loopback and on no other interface
    addresses = _listening_addresses(dynamodb.port)
    assert addresses and set(addresses) <= LOOPBACK, addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_without_a_jdk_dynamodb_local_runs_from_its_jar_and_says_so(monkeypatch):
    # Given a machine with a Java runtime but no javac
    which = shutil.which
    monkeypatch.setattr(dynamodb_local.shutil, "which", lambda name: None if name == "javac" else which(name))
    # When DynamoDB Local starts, Then it still serves, flagged as not loopback-only (the jar listens everywhere,
    # which `responder local` prints as a warning)
    with DynamoDBLocal() as database:
        assert database.client().list_tables()["TableNames"] == []
        assert not database.loopback_only
        assert not set(_listening_addresses(database.port)) <= LOOPBACK


def _send_raw(port: int, head: bytes, body: bytes = b"") -> int:
    """Write a request as raw bytes (so its framing can lie) and return the answer's status."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


def test_a_body_past_api_gateways_limit_is_refused_unread(local):
    port = local["stack"].port
    # Given a request that announces 11 MB (API Gateway's HTTP API refuses more than 10 MB), and sends none of it
    head = (b"POST /webhooks/x HTTP/1.1\r\nHost: 127.0.0.1\r\nx-twitter-webhooks-signature: sha256=AAAA\r\n"
            b"content-length: 11534336\r\n\r\n")
    # Then it is answered 413 at once, without waiting for the body
    assert _send_raw(port, head) == 413
    # And a chunked body whose chunks add up past the limit, or whose framing is not hexadecimal, is refused too
    chunked = b"POST /webhooks/x HTTP/1.1\r\nHost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
    assert _send_raw(port, chunked, b"B00000\r\n") == 413
    assert _send_raw(port, chunked, b"zz\r\nhello\r\n0\r\n\r\n") == 400
    # And the server still answers ordinary requests afterwards
    assert requests.get(f"{local['base']}/local/health", timeout=10).status_code == 200


def test_redrive_needs_a_header_a_web_page_cannot_send(local):
    # Given a cross-origin form post, as any page the browser opens could make it
    refused = requests.post(f"{local['base']}/local/redrive", data={"x": "1"}, timeout=10)
    # Then it changes nothing; the command line's request, with its header, is accepted
    assert refused.status_code == 403
    accepted = requests.post(f"{local['base']}/local/redrive", headers={"X-Responder-Local": "1"}, timeout=30)
    assert accepted.status_code == 200 and "moved" in accepted.json()
