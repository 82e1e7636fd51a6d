"""evloop.connection.tls, unit by unit over a socketpair: the contexts, the handshake a
step at a time, the hot path's two calls, close_notify, the peer's subject, and each
failure as one line.  A real server over TLS: tests/features/test_tls.py."""

import socket
import ssl

import pytest

from evloop import Config
from evloop.connection.tls import TLSFailure
from evloop.connection.tls import TLSFiles
from evloop.connection.tls import TLSSession
from evloop.connection.tls import client_context
from evloop.connection.tls import make_context
from evloop.connection.tls import reason_of

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def sessions(tls_files):
    """A server and a client TLSSession, each wrapped around one end of a socketpair."""
    made = []

    def make(server_config=None, client_cert=None):
        server_config = server_config or Config(tls_cert=tls_files["server"],
                                                tls_key=tls_files["server"])
        client = ssl.create_default_context(cafile=tls_files["ca"])
        if client_cert:
            client.load_cert_chain(client_cert)
        ours, theirs = socket.socketpair()
        for sock in (ours, theirs):
            sock.setblocking(False)
        server = TLSSession(make_context(server_config), server_side=True)
        peer = TLSSession(client, server_side=False, server_hostname="localhost")
        made.extend([server.wrap(ours), peer.wrap(theirs)])
        return server, peer

    yield make
    for sock in made:
        sock.close()


def handshake(*sessions):
    """Step each session in turn until all are done; how many rounds it took."""
    done = dict.fromkeys(sessions, False)
    for rounds in range(1, 50):
        for session in sessions:
            if not done[session]:
                done[session] = session.step()
        if all(done.values()):
            return rounds
    raise AssertionError("the handshake never ended")


def test_the_handshake_goes_a_step_at_a_time_as_the_bytes_allow(sessions):
    server, client = sessions()
    assert server.step() is False and server.wants_write is False  # no hello yet: wait to read
    assert handshake(client, server) > 1
    assert server.sock.version() == client.sock.version() == "TLSv1.3"
    assert server.peer_subject() is None  # no client certificate asked for


def test_io_is_the_ssl_objects_read_and_write_with_would_block_as_blocking_io(sessions):
    server, client = sessions()
    handshake(client, server)
    pending = []
    read, write = server.io(lambda: pending.append("more"))
    _, client_write = client.io(lambda: None)
    with pytest.raises(BlockingIOError):
        read(-1, 100)  # nothing sent yet: "try later", as a plain socket says
    assert client_write(-1, b"hello") == 5  # the descriptor is the SSL object's business
    assert read(-1, 100) == b"hello" and pending == []
    assert write(-1, memoryview(b"answer")) == 6
    assert client.sock.recv(100) == b"answer"


def test_a_read_that_fills_its_buffer_asks_for_the_plaintext_openssl_holds(sessions):
    server, client = sessions()
    handshake(client, server)
    pending = []
    read, _ = server.io(lambda: pending.append("more"))
    client.sock.send(b"x" * 10_000)  # one record: epoll will not see what OpenSSL keeps
    assert read(-1, 100) == b"x" * 100 and pending == ["more"]
    assert len(read(-1, 20_000)) == 9_900 and pending == ["more"]  # not full: nothing held


def test_close_notify_ends_one_direction_once_and_the_other_goes_on(sessions):
    server, client = sessions()
    handshake(client, server)
    read, write = server.io(lambda: None)
    client.close_notify()
    client.close_notify()  # a second call is harmless
    assert client.notified
    assert read(-1, 100) == b""  # the peer's end of output, as EOF on a plain socket
    write(-1, b"still talking")  # TLS 1.3 keeps our direction open, as TCP does
    assert client.sock.recv(100) == b"still talking"


def test_a_peer_gone_without_close_notify_reads_as_eof(sessions):
    server, client = sessions()
    handshake(client, server)
    read, _ = server.io(lambda: None)
    # A bare FIN: TLS calls it a ragged EOF, the hot path an EOF.  (Not close(): with
    # the server's session tickets still unread, the kernel would answer with RST.)
    socket.socket.shutdown(client.sock, socket.SHUT_WR)
    assert read(-1, 100) == b""


def test_the_peers_subject_with_a_client_certificate(sessions, tls_files):
    config = Config(tls_cert=tls_files["server"], tls_key=tls_files["server"],
                    tls_ca=tls_files["ca"])
    server, client = sessions(config, client_cert=tls_files["alice"])
    handshake(client, server)
    subject = server.peer_subject().split(",")
    assert "CN=alice" in subject and "O=Lab" in subject


def test_a_peer_that_does_not_speak_tls_is_a_tls_failure_with_a_short_reason(sessions):
    server, client = sessions()
    raw = socket.socket(fileno=client.sock.detach())  # the socket under it, plain
    raw.send(b"GET / HTTP/1.0\r\n\r\n")
    with pytest.raises(TLSFailure) as caught:
        handshake(server)
    assert caught.value.reason == "http request"  # OpenSSL's words, lower case, no "[SSL: ...]"
    assert isinstance(caught.value.__cause__, ssl.SSLError)
    raw.close()


def test_a_peer_gone_mid_handshake_is_a_tls_failure(sessions):
    server, client = sessions()
    client.step()  # its hello is sent
    client.sock.close()
    with pytest.raises(TLSFailure) as caught:
        handshake(server)
    assert isinstance(caught.value.__cause__, OSError) and caught.value.reason


def test_the_servers_context_from_the_config(tls_files, tmp_path):
    plain = make_context(Config(tls_cert=tls_files["server"], tls_key=tls_files["server"]))
    assert plain.minimum_version == ssl.TLSVersion.TLSv1_2 and plain.verify_mode == ssl.CERT_NONE
    mutual = make_context(Config(tls_cert=tls_files["server"], tls_key=tls_files["server"],
                                 tls_ca=tls_files["ca"]))
    assert mutual.verify_mode == ssl.CERT_REQUIRED
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match=rf"tls_cert \({not_pem}\) and tls_key \({not_pem}\) do not load"):
        make_context(Config(tls_cert=str(not_pem), tls_key=str(not_pem)))
    with pytest.raises(ValueError, match=rf"tls_ca \({not_pem}\) does not load"):
        make_context(Config(tls_cert=tls_files["server"], tls_key=tls_files["server"],
                            tls_ca=str(not_pem)))


def test_what_connect_tls_means(tls_files, tmp_path):
    assert client_context(None) is None and client_context(False) is None
    own = ssl.create_default_context()
    assert client_context(own) is own
    system = client_context(True)
    assert system.check_hostname and system.verify_mode == ssl.CERT_REQUIRED
    assert system.minimum_version == ssl.TLSVersion.TLSv1_2
    ca = client_context(tls_files["ca"])
    assert ca.verify_mode == ssl.CERT_REQUIRED and client_context(tls_files["ca"]) is ca  # loaded once
    with pytest.raises(ValueError, match="does not load"):
        client_context(str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="tls must be True, a CA file's path or an ssl.SSLContext, not 42"):
        client_context(42)


def test_a_server_hostname_that_cannot_be_used_is_refused_at_wrap():
    ours, theirs = socket.socketpair()
    session = TLSSession(ssl.create_default_context(), server_side=False, server_hostname="")
    with pytest.raises(ValueError):
        session.wrap(ours)
    ours.close()
    theirs.close()


def test_reason_of_is_one_short_line():
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "unable to get local issuer certificate"
    assert reason_of(verify) == "certificate verify failed: unable to get local issuer certificate"
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    assert reason_of(error) == "wrong version number"
    assert reason_of(ConnectionResetError(104, "Connection reset by peer")) == "Connection reset by peer"
    assert reason_of(ValueError("odd")) == "odd" and reason_of(ValueError()) == "ValueError"


def test_tls_files_are_re_read_and_kept_or_given_back(tls_files, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    server_pem = open(tls_files["server"]).read()
    cert.write_text(server_pem)
    key.write_text(server_pem)
    config = Config(tls_cert=str(cert), tls_key=str(key))
    first = make_context(config)
    files = TLSFiles(config, first)
    files.reread()
    second = files.context
    assert second is not first
    files.settle(kept=False)  # a reload refused for another reason
    assert files.context is first
    files.reread()
    files.settle(kept=True)
    assert files.context is not first
    kept = files.context
    cert.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"^tls_cert \(.*cert\.pem\) and tls_key \(.*key\.pem\) "
                                         r"do not load: "):
        files.reread()
    assert files.context is kept  # what does not load changes nothing
    plain = TLSFiles(Config(), None)
    plain.reread()
    plain.settle(kept=True)
    assert plain.context is None
