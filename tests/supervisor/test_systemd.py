"""evloop.supervisor.systemd: sd_notify's datagrams, and nothing without NOTIFY_SOCKET."""

import os
import socket

from evloop.supervisor.systemd import Notifier


def test_notices_arrive_as_datagrams_of_key_value_lines(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        manager.settimeout(5)
        notifier = Notifier(path)
        notifier.ready("2 workers serving")
        assert manager.recv(4096) == b"READY=1\nSTATUS=2 workers serving"
        notifier.status("2 workers serving")  # unchanged: not sent again
        notifier.status("1 workers serving")
        assert manager.recv(4096) == b"STATUS=1 workers serving"
        notifier.reloading()
        reloading = manager.recv(4096).decode().split("\n")
        assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC=")
        notifier.stopping()
        assert manager.recv(4096) == b"STOPPING=1"
        notifier.close()


def test_abstract_socket_names_start_with_at():
    name = f"@evloop-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name[1:])
        manager.settimeout(5)
        Notifier(name).notify(READY=1)
        assert manager.recv(100) == b"READY=1"


def test_the_path_comes_from_notify_socket(monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    assert Notifier().path == "/run/systemd/notify"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert Notifier().path is None


def test_without_a_socket_nothing_is_made_or_sent(caplog):
    notifier = Notifier("")  # NOTIFY_SOCKET empty, as unset
    notifier.ready("nothing")
    notifier.stopping()
    assert notifier.path is None and notifier.sock is None and caplog.text == ""


def test_a_failure_is_logged_once_and_the_next_notice_is_tried_all_the_same(tmp_path, caplog):
    gone = Notifier(str(tmp_path / "nobody"))
    gone.notify(READY=1)
    gone.notify(STOPPING=1)
    assert caplog.text.count("notices may be missing") == 1
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "nobody"))  # the manager is back
        manager.settimeout(5)
        gone.notify(READY=1)
        assert manager.recv(100) == b"READY=1"
    gone.close()


def test_the_watchdog_interval_is_half_of_watchdog_usec_for_this_process(monkeypatch):
    notifier = Notifier("/run/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notifier.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notifier.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert notifier.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    for usec in ("0", "", "soon"):
        monkeypatch.setenv("WATCHDOG_USEC", usec)
        assert notifier.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert Notifier("").watchdog_interval() is None  # nobody to tell
