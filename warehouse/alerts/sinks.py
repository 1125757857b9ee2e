"""Where alert changes go: a JSON-lines file, a webhook, email. Standard library only.

Each sink's `send(delivery_id, body)` returns when the sink has accepted the message and
raises DeliveryError otherwise. `delivery_id` ('<alert_id>:<version>') is the idempotency
key: the file sink skips an id it already holds (so a re-send after a crash between writing
and marking adds nothing), the webhook sends it as the X-HomeWatch-Delivery header and the
email as its Message-ID, so a receiver can drop the one possible re-send.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from warehouse.alerts.config import EmailSink, FileSink, WebhookSink

SIGNATURE_HEADER = "X-HomeWatch-Signature"
DELIVERY_HEADER = "X-HomeWatch-Delivery"


class DeliveryError(Exception):
    """A sink did not accept a message; the text never holds a secret."""


def signature(secret: str, body: bytes) -> str:
    """The X-HomeWatch-Signature value: 'sha256=' + hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FileJsonLines:
    """Appends one JSON line per alert change; safe to re-run after a crash (see the module doc)."""

    name = "file"

    def __init__(self, cfg: FileSink, default_path: Path) -> None:
        self.path = Path(cfg.path) if cfg.path else default_path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seen = self._existing_ids()

    def _existing_ids(self) -> set[str]:
        if not self.path.exists():
            return set()
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # a line torn by a crash mid-write: it was never marked delivered, so it is re-sent
            with self.path.open("r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
            data = data[: data.rfind(b"\n") + 1]
        seen = set()
        for line in data.splitlines():
            try:
                seen.add(json.loads(line)["delivery_id"])
            except (ValueError, KeyError, TypeError):
                continue
        return seen

    def send(self, delivery_id: str, body: str) -> None:
        if delivery_id in self._seen:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (body + "\n").encode())
            os.fsync(fd)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc.strerror}") from None
        finally:
            os.close(fd)
        self._seen.add(delivery_id)


def _safe_url(url: str) -> str:
    """The URL without its query string and credentials (they may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


class Webhook:
    """HTTP POST of the JSON body, signed; retried with backoff on a connection error, a
    timeout, 429 or a 5xx; a 4xx other than 429 fails at once (the receiver refuses it)."""

    name = "webhook"

    def __init__(self, cfg: WebhookSink, sleep=time.sleep) -> None:
        self.cfg, self.sleep = cfg, sleep
        self.secret = os.environ.get(cfg.secret_env, "") or cfg.secret
        if not self.secret:
            raise DeliveryError(f"the webhook has no signing secret: set ${cfg.secret_env} (or secret in the config file)")

    def send(self, delivery_id: str, body: str) -> None:
        data = body.encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id,
                   SIGNATURE_HEADER: signature(self.secret, data), "User-Agent": "homewatch-alerts"}
        problem = ""
        for attempt in range(1, self.cfg.max_attempts + 1):
            request = urllib.request.Request(self.cfg.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                problem = type(getattr(exc, "reason", exc)).__name__ + f": {getattr(exc, 'reason', exc)}"
            if attempt < self.cfg.max_attempts:
                self.sleep(self.cfg.backoff_s * 2 ** (attempt - 1))
        raise DeliveryError(f"webhook {_safe_url(self.cfg.url)} refused {delivery_id} after "
                            f"{attempt} attempt(s): {problem}")


class Email:
    """One email per alert change through an SMTP server."""

    name = "email"

    def __init__(self, cfg: EmailSink) -> None:
        self.cfg = cfg
        self.password = os.environ.get(cfg.password_env, "")

    def send(self, delivery_id: str, body: str) -> None:
        message = json.loads(body)
        a = message["alert"]
        msg = EmailMessage()
        msg["Subject"] = (f"[HomeWatch] {a['severity']} {a['alert_class']} at {a['household_id']}: "
                          f"{message['change']} (alert {a['alert_id']})")
        msg["From"], msg["To"] = self.cfg.sender, ", ".join(self.cfg.to)
        msg["Message-ID"] = f"<alert-{delivery_id.replace(':', '-')}@homewatch>"
        msg.set_content(f"{a['evidence']}\n\n{a['onset_at']} to {a['end_at']} UTC; status {a['status']}.\n\n"
                        + json.dumps(message, indent=2))
        try:
            with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s) as smtp:
                if self.cfg.starttls:
                    smtp.starttls()
                if self.cfg.user:
                    smtp.login(self.cfg.user, self.password)
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.cfg.host}:{self.cfg.port} refused {delivery_id}: "
                                f"{type(exc).__name__}") from None
