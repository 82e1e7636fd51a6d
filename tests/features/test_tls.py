"""TLS on a real server: certificates from trustme, clients that verify, and the
hostile cases (not a ClientHello, a hello a byte at a time, a reset mid-handshake,
a client that never reads), each one log line, and nobody else affected."""

import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
import trustme

from evloop.connection.proxy_protocol import encode_v2
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    where = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_and_cert_chain_pem.write_to_path(str(where / "server.pem"))
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    alice = ca.issue_cert("alice@example.org", common_name="alice", organization_name="Lab")
    alice.private_key_and_cert_chain_pem.write_to_path(str(where / "alice.pem"))
    other = trustme.CA().issue_cert("mallory@example.org", common_name="mallory")
    other.private_key_and_cert_chain_pem.write_to_path(str(where / "mallory.pem"))
    return {name: str(where / f"{name}.pem") for name in ("server", "ca", "alice", "mallory")}


def tls_server(serve, certs, *more):
    return serve("--tls-cert", certs["server"], "--tls-key", certs["server"], *more)


def client_context(certs, certfile=None, version=None):
    context = ssl.create_default_context(cafile=certs["ca"])
    if certfile:
        context.load_cert_chain(certfile)
    if version is not None:  # this version only
        context.minimum_version = context.maximum_version = version
    return context


def tls_connect(server, certs, certfile=None, version=None):
    raw = socket.create_connection(server.address, timeout=10)
    return client_context(certs, certfile, version).wrap_socket(
        raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False)


def test_every_handler_over_tls_and_a_close_notify_at_shutdown(serve, certs):
    server = tls_server(serve, certs, "--handler", "lenprefix")
    assert server.protocols == "tcp+tls"
    with tls_connect(server, certs) as sock:
        assert sock.version() == "TLSv1.3"  # what the server and a default client agree on
        for message in (b"016Hello!! Server!!", b"999" + b"q" * 999):
            sock.sendall(message * 20)
            assert recv_exactly(sock, len(message) * 20) == message * 20
        code, err = server.stop()
        assert sock.recv(10) == b""  # a close_notify, not a bare FIN (that raises SSLEOFError)
    assert code == 0 and "Traceback" not in err


def test_a_client_that_speaks_only_tls_1_2_is_served(serve, certs):
    """The essay's "TLS 1.2 or newer": 1.2 is served (the floor itself:
    tests/connection/test_tls.py)."""
    server = tls_server(serve, certs, "--handler", "echo")
    with tls_connect(server, certs, version=ssl.TLSVersion.TLSv1_2) as sock:
        assert sock.version() == "TLSv1.2"
        sock.sendall(b"old but fine")
        assert recv_exactly(sock, 12) == b"old but fine"


def test_large_messages_cross_records_whole(serve, certs):
    server = tls_server(serve, certs, "--handler", "echo")
    blob = bytes(range(256)) * 4096  # 1 MiB: 64 records and more, reads and writes cut anywhere
    with tls_connect(server, certs) as sock:
        sock.sendall(blob)
        assert recv_exactly(sock, len(blob)) == blob


def test_the_client_verifies_by_default(serve, certs):
    server = tls_server(serve, certs, "--handler", "uppercase")
    base = [sys.executable, "-m", "evloop.client", "--handler", "uppercase", "--port",
            str(server.port), "--tls"]

    def client(*more):
        return subprocess.run([*base, *more], input="secret\n", capture_output=True, text=True,
                              timeout=30, cwd=ROOT, env=cli_env())

    good = client("--cafile", certs["ca"])
    assert (good.returncode, good.stdout) == (0, "SECRET\n"), good.stderr
    refused = client()
    assert refused.returncode == 1 and "the server's certificate was refused" in refused.stderr
    insecure = client("--insecure")
    assert insecure.returncode == 0 and insecure.stdout == "SECRET\n"
    assert "--insecure: the server's certificate and name are not checked" in insecure.stderr
    code, err = server.stop()
    assert err.count("TLS handshake failed") == 1  # the refusing client's


def test_mutual_tls_gives_the_handler_the_client_s_subject(serve, certs):
    server = tls_server(serve, certs, "--tls-ca", certs["ca"],
                        "--handler", "userhandlers.whoami:Subject")
    with tls_connect(server, certs, certs["alice"]) as sock:
        sock.sendall(b"who am I?")
        subject = sock.recv(200).decode()
        assert subject.endswith("\n") and {"CN=alice", "O=Lab"} <= set(subject.strip().split(","))
    for certfile in (None, certs["mallory"]):  # no certificate; one from another CA
        with socket.create_connection(server.address, timeout=10) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                with client_context(certs, certfile).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                    sock.sendall(b"x")
                    sock.recv(10)  # TLS 1.3: the refusal arrives after the client's handshake
    code, err = server.stop()
    failures = [line for line in err.splitlines() if "TLS handshake failed" in line]
    assert len(failures) == 2 and all("127.0.0.1:" in line for line in failures), err


@pytest.mark.parametrize("garbage", [b"016Hello!! Server!!", b"GET / HTTP/1.0\r\n\r\n"])
def test_bytes_that_are_not_a_client_hello(serve, certs, garbage):
    server = tls_server(serve, certs, "--handler", "echo")
    with tls_connect(server, certs) as good:
        with socket.create_connection(server.address, timeout=10) as bad:
            bad.sendall(garbage)
            try:
                assert len(recv_until_eof(bad)) < 100  # an alert record at most, then EOF
            except ConnectionResetError:
                pass
        good.sendall(b"unaffected")
        assert recv_exactly(good, 10) == b"unaffected"
    code, err = server.stop()
    lines = [line for line in err.splitlines() if "TLS handshake failed" in line]
    assert len(lines) == 1 and "127.0.0.1:" in lines[0] and "Traceback" not in err


def test_a_hello_a_byte_at_a_time_meets_the_handshake_timeout(serve, certs):
    server = tls_server(serve, certs, "--handler", "echo", "--handshake-timeout", "0.5")
    hello = client_hello(server, certs)
    with socket.create_connection(server.address, timeout=10) as slow:
        start = time.monotonic()
        closed = False
        for byte in hello:
            try:
                slow.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)  # pacing: a hello dribbled slower than the timeout allows
            if time.monotonic() - start > 3:
                break
        if not closed:
            slow.settimeout(5)
            try:
                assert slow.recv(100) == b""
            except ConnectionResetError:
                pass
    code, err = server.stop()
    assert "TLS handshake failed: not done within 0.5s (--handshake-timeout)" in err


def client_hello(server, certs):
    """The first flight of a real client, captured with a MemoryBIO."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(certs).wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_reset_mid_handshake_is_one_line_and_nothing_else(serve, certs):
    server = tls_server(serve, certs, "--handler", "echo", "--trace")
    hello = client_hello(server, certs)
    with socket.create_connection(server.address, timeout=10) as quitter:
        quitter.sendall(hello[:len(hello) // 2])
        server.wait_stderr(r"accepted by fd \d+ listener")  # its handshake has begun
        quitter.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    server.wait_stderr("TLS handshake failed")
    with tls_connect(server, certs) as good:
        good.sendall(b"still here")
        assert recv_exactly(good, 10) == b"still here"
    code, err = server.stop()
    lines = [line for line in err.splitlines() if "TLS handshake failed" in line]
    assert len(lines) == 1 and "reset" in lines[0].lower(), err


def test_a_client_that_never_reads_is_paused_as_over_plain_tcp(serve, certs):
    server = tls_server(serve, certs, "--handler", "echo", "--high-water", "64K",
                        "--low-water", "16K")
    rss_before = server.rss_kib()
    sock = tls_connect(server, certs)
    sock.setblocking(False)
    sent, blocked_since = 0, None
    deadline = time.monotonic() + 20
    chunk = b"z" * 16384
    while sent < 64 << 20 and time.monotonic() < deadline:  # until the server stops reading
        try:
            sent += sock.send(chunk)
            blocked_since = None
        except (ssl.SSLWantWriteError, BlockingIOError):
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break  # a second without progress: both ways are full, the server paused
            time.sleep(0.01)  # polling the condition above
    assert 256 * 1024 < sent < 64 << 20, sent
    grown = server.rss_kib() - rss_before
    assert grown < 16 * 1024, f"the server grew {grown} KiB for a client that does not read"
    with tls_connect(server, certs) as good:
        good.sendall(b"served")
        assert recv_exactly(good, 6) == b"served"
    sock.close()


def test_proxy_protocol_then_tls(serve, certs):
    server = tls_server(serve, certs, "--proxy-protocol", "--handler",
                        "userhandlers.whoami:Peer", "--trace")
    with socket.create_connection(server.address, timeout=10) as raw:
        raw.sendall(encode_v2(("192.0.2.44", 5555), ("198.51.100.1", 443)))
        with client_context(certs).wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"hi")
            assert sock.recv(100) == b"192.0.2.44:5555 hi"
    code, err = server.stop()
    assert "PROXY_HEADER -> HANDSHAKING (start_tls)" in err
    assert "HANDSHAKING -> OPEN (handshake_done)" in err


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", "--port", "0", *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT, env=cli_env())


def test_tls_mistakes_are_one_line_errors(certs, tmp_path):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    for args, message in [
        (["--tls-cert", certs["server"]], "--tls-cert and --tls-key go together"),
        (["--tls-cert", str(not_pem), "--tls-key", str(not_pem)], "do not load"),
        (["--tls-cert", certs["server"], "--tls-key", certs["server"], "--udp"],
         "DTLS is not in the standard library"),
        (["--tls-ca", certs["ca"]], "--tls-ca (client certificates) needs --tls-cert and --tls-key"),
        (["--tls-cert", certs["server"], "--tls-key", certs["server"], "--tls-ca", str(not_pem)],
         "--tls-ca"),
    ]:
        run = run_serve(*args)
        assert run.returncode == 2 and message in run.stderr, (args, run.stderr)
        assert len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr


# -- certificate rotation: SIGHUP re-reads the TLS files --------------------------------

@pytest.fixture
def rotation(tmp_path):
    """Two certificates for 127.0.0.1 from one CA, and the two paths a server is given."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    pems = [ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.bytes() for _ in range(2)]
    live = tmp_path / "live.pem"
    live.write_bytes(pems[0])
    return {"ca": str(tmp_path / "ca.pem"), "live": live, "old": pems[0], "new": pems[1]}


def served_certificate(server, rotation):
    """(the certificate a new TLS connection gets, in DER, the open connection)."""
    context = ssl.create_default_context(cafile=rotation["ca"])
    sock = context.wrap_socket(socket.create_connection(server.address, timeout=10),
                               server_hostname="127.0.0.1")
    return sock.getpeercert(binary_form=True), sock


def der_of(pem):
    """The first certificate in a key-and-chain PEM, in DER."""
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    text = pem.decode()
    first = text[text.index(begin):text.index(end) + len(end)]
    return ssl.PEM_cert_to_DER_cert(first)


def rotate_and_check(server, rotation, sighup, saw):
    """Rotate the files, SIGHUP, and check old and new connections; then a broken file."""
    before, old_client = served_certificate(server, rotation)
    with old_client:
        assert before == der_of(rotation["old"])
        rotation["live"].write_bytes(rotation["new"])
        sighup()
        saw(r"reload: .*(TLS files re-read|new worker\(s\) serving)")
        after, new_client = served_certificate(server, rotation)
        with new_client:
            assert after == der_of(rotation["new"])  # new connections: the new one
            for client in (old_client, new_client):  # the open one keeps its own, and works
                client.sendall(b"005hello")
                assert recv_exactly(client, 8) == b"005hello"
            assert old_client.getpeercert(binary_form=True) == before
    rotation["live"].write_text("not a certificate\n")  # a botched renewal
    sighup()
    saw(r"reload refused: tls_cert \(\S+live\.pem\) and tls_key \(\S+live\.pem\) do not load")
    third, client = served_certificate(server, rotation)
    with client:
        assert third == der_of(rotation["new"])  # the certificate that loaded goes on


def test_sighup_re_reads_the_certificate_of_a_single_server(serve, rotation):
    server = serve("--handler", "lenprefix", "--tls-cert", str(rotation["live"]),
                   "--tls-key", str(rotation["live"]))
    rotate_and_check(server, rotation, lambda: server.proc.send_signal(signal.SIGHUP),
                     server.wait_stderr)
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err, err


def test_sighup_re_reads_the_certificate_for_a_reload_s_new_workers(supervised, rotation):
    server = supervised("--workers", "2", "--handler", "lenprefix", "--tls-cert",
                        str(rotation["live"]), "--tls-key", str(rotation["live"]))
    reloads = []

    def saw(pattern):
        reloads.append(pattern)
        server.wait_log(pattern, count=1 if "refused" in pattern else len(reloads))
        if "refused" not in pattern:
            # The old workers were told; each stops accepting as it hears it, and says so.
            # Until then a new client may still reach one, and its old certificate.
            server.wait_log(r"retiring: no new connections", count=2)

    rotate_and_check(server, rotation, lambda: server.proc.send_signal(signal.SIGHUP), saw)
    assert server.log().count(") started") == 4  # the refused reload started none
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log
