"""Alert delivery: the JSON-lines file exactly once under kill, the webhook against a real
HTTP server on 127.0.0.1 that fails first (retries, backoff, HMAC signature, timeout), email
through a local SMTP server, and secrets kept out of the warehouse."""
from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time

import pytest

from tests.test_alerts import at, data_until, make_marts, rule
from warehouse.alerts import sync
from warehouse.alerts.config import AlertConfig, EmailSink, FileSink, WebhookSink
from warehouse.alerts.outbox import deliver
from warehouse.alerts.store import set_status
from warehouse.connection import connect, writer

SECRET = "s3cret-Hm4c-k3y-do-not-store"


def _fill(con, n: int = 4) -> None:
    """n alerts to send: a heating failure in H1 every 8 hours (past the cooldown)."""
    for i in range(n):
        rule(con, f"r{i}", "H1", 1, "heating_failure", at(8 * i + 10), at(8 * i + 11))
    data_until(con, at(8 * (n - 1) + 12))


def _warehouse(tmp_path, config: AlertConfig, n: int = 4):
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        make_marts(con)
        _fill(con, n)
        sync(con, config)
    return db


def _outbox(db):
    con = connect(db, read_only=True)
    try:
        return con.execute("select delivery_id, sink, delivered_at is not null, attempts, last_error "
                           "from ops.alert_outbox order by alert_id, version, sink").fetchall()
    finally:
        con.close()


def _ids(path) -> list[str]:
    return [json.loads(line)["delivery_id"] for line in path.read_text().splitlines()]


# --- the file sink, killed ---------------------------------------------------------------------


def _deliver_in_a_process(db, out, failpoint: str | None):
    """`homewatch alerts deliver`; with a failpoint, killed (SIGKILL) when it gets there."""
    env = {**os.environ, "HOMEWATCH_ALERTS_FILE": str(out), "HOMEWATCH_CONFIG": os.devnull}
    env.pop("HOMEWATCH_FAILPOINT", None)
    if failpoint:
        env["HOMEWATCH_FAILPOINT"] = failpoint
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "alerts", "deliver", "--db", str(db)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    if failpoint is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        return
    for line in proc.stderr:
        if f"failpoint {failpoint} reached" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            return
    raise AssertionError(f"delivery ended (exit {proc.wait()}) before {failpoint}")


@pytest.mark.parametrize("failpoint, written, marked", [
    ("alerts.after_send", 1, 0),      # the first message written, not yet marked delivered
    ("alerts.delivered.2", 2, 2),     # killed part-way, after two were marked
])
def test_killed_during_delivery_the_rerun_delivers_each_change_exactly_once(tmp_path, failpoint, written, marked):
    db = _warehouse(tmp_path, AlertConfig(file=FileSink()))
    out = tmp_path / "alerts.jsonl"
    _deliver_in_a_process(db, out, failpoint)
    assert len(_ids(out)) == written and sum(r[2] for r in _outbox(db)) == marked
    _deliver_in_a_process(db, out, None)
    _deliver_in_a_process(db, out, None)      # and once more: nothing is pending, nothing is added
    assert sorted(_ids(out)) == ["1:1", "2:1", "3:1", "4:1"]
    assert all(r[2] for r in _outbox(db))


def test_a_line_torn_by_a_crash_is_replaced_not_kept(tmp_path):
    db = _warehouse(tmp_path, AlertConfig(file=FileSink()), n=2)
    out = tmp_path / "alerts.jsonl"
    out.write_text('{"delivery_id": "1:1", "change": "op')   # died mid-write: never marked delivered
    con = connect(db)
    try:
        result = deliver(con, AlertConfig(file=FileSink(str(out))), default_file=out)
    finally:
        con.close()
    assert result.sent == {"file": 2} and _ids(out) == ["1:1", "2:1"]


def test_killed_while_syncing_neither_alerts_nor_outbox_rows_land(tmp_path):
    db = tmp_path / "w.duckdb"
    with writer(db) as con:
        make_marts(con)
        _fill(con, 2)
    env = {**os.environ, "HOMEWATCH_FAILPOINT": "alerts.sync_in_transaction", "HOMEWATCH_CONFIG": os.devnull,
           "HOMEWATCH_ALERTS_FILE": str(tmp_path / "a.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "alerts", "sync", "--db", str(db)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    for line in proc.stderr:
        if "failpoint alerts.sync_in_transaction reached" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    con = connect(db, read_only=True, wait_s=30)
    try:
        assert con.execute("select (select count(*) from ops.alerts), (select count(*) from ops.alert_outbox)"
                           ).fetchone() == (0, 0)
    finally:
        con.close()


# --- the webhook, against a real local server -----------------------------------------------------


class _Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.calls.append((dict(self.headers), body))
        if server.delay:
            time.sleep(server.delay)
        failing = server.fail_first > 0
        server.fail_first -= 1
        self.send_response(503 if failing else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.calls, server.fail_first, server.delay = [], 0, 0.0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _webhook(server, **kw) -> AlertConfig:
    cfg = WebhookSink(url=f"http://127.0.0.1:{server.server_address[1]}/hook?token=abc", secret_env="HW_TEST_SECRET",
                      backoff_s=0.01, **kw)
    return AlertConfig(file=None, webhook=cfg)


def test_the_webhook_retries_with_backoff_and_signs_each_body(tmp_path, hook, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    config = _webhook(hook, max_attempts=4)
    db = _warehouse(tmp_path, config, n=3)
    hook.fail_first = 2                                  # the first two attempts get 503
    con = connect(db)
    try:
        result = deliver(con, config, default_file=tmp_path / "unused.jsonl")
    finally:
        con.close()
    assert result.sent == {"webhook": 3} and not result.failed
    assert len(hook.calls) == 5                          # 2 refused + 3 accepted
    accepted = hook.calls[2:]
    assert [h["X-Homewatch-Delivery"] for h, _ in accepted] == ["1:1", "2:1", "3:1"]
    for headers, body in hook.calls:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Homewatch-Signature"] == expected
        assert json.loads(body)["alert"]["alert_class"] == "temperature_failure"
    assert all(r[2] for r in _outbox(db))


def test_a_webhook_that_stays_down_keeps_the_messages_for_the_next_run(tmp_path, hook, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    config = _webhook(hook, max_attempts=3)
    db = _warehouse(tmp_path, config, n=2)
    hook.fail_first = 100
    con = connect(db)
    try:
        result = deliver(con, config, default_file=tmp_path / "unused.jsonl")
        assert "HTTP 503" in result.failed["webhook"] and result.pending == 2
        assert len(hook.calls) == 3                      # bounded: the later row waits, in order
        assert "token" not in result.failed["webhook"] and SECRET not in result.failed["webhook"]
        hook.fail_first = 0
        set_status(con, config, 1, "ack", "seen")       # a change made while the hook was down
        assert deliver(con, config, default_file=tmp_path / "unused.jsonl").sent == {"webhook": 3}
        con.execute("checkpoint")
    finally:
        con.close()
    ok = [h["X-Homewatch-Delivery"] for h, _ in hook.calls[3:]]
    assert ok == ["1:1", "2:1", "1:2"]
    assert SECRET.encode() not in db.read_bytes()       # the secret is never written to the warehouse


def test_a_slow_webhook_times_out(tmp_path, hook, monkeypatch):
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    config = _webhook(hook, max_attempts=2, timeout_s=0.2)
    db = _warehouse(tmp_path, config, n=1)
    hook.delay = 1.0
    con = connect(db)
    try:
        result = deliver(con, config, default_file=tmp_path / "unused.jsonl")
    finally:
        con.close()
    assert "timed out" in result.failed["webhook"] and "after 2 attempt(s)" in result.failed["webhook"]


def test_a_webhook_without_a_secret_is_refused(tmp_path, hook, monkeypatch):
    monkeypatch.delenv("HW_TEST_SECRET", raising=False)
    config = _webhook(hook)
    db = _warehouse(tmp_path, config, n=1)
    con = connect(db)
    try:
        result = deliver(con, config, default_file=tmp_path / "unused.jsonl")
    finally:
        con.close()
    assert "no signing secret: set $HW_TEST_SECRET" in result.failed["config"] and not hook.calls


# --- email, through a local SMTP server ---------------------------------------------------------


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self):
        self.wfile.write(b"220 localhost test SMTP\r\n")
        lines, data = [], False
        for line in self.rfile:
            if data:
                if line.rstrip(b"\r\n") == b".":
                    self.server.messages.append(b"".join(lines).decode())
                    lines, data = [], False
                    self.wfile.write(b"250 queued\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                data = True
                self.wfile.write(b"354 end with .\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_goes_through_a_local_smtp_server(tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = AlertConfig(file=None, email=EmailSink(host="127.0.0.1", port=server.server_address[1],
                                                        to=["care@example.org"]))
        db = _warehouse(tmp_path, config, n=2)
        con = connect(db)
        try:
            result = deliver(con, config, default_file=tmp_path / "unused.jsonl")
        finally:
            con.close()
    finally:
        server.shutdown()
        server.server_close()
    assert result.sent == {"email": 2}
    assert len(server.messages) == 2
    assert "Subject: [HomeWatch] medium temperature_failure at H1: opened (alert 1)" in server.messages[0]
    assert "Message-ID: <alert-1-1@homewatch>" in server.messages[0]
