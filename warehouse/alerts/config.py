"""Alert settings and sinks: one TOML file (`homewatch.toml`, see homewatch.example.toml and
docs/alerts.md) or environment variables. Every key has a default; an unknown key is an error.

Where the file is: $HOMEWATCH_CONFIG, else ./homewatch.toml if it exists, else the defaults
(the JSON-lines file sink alone). Environment variables override the file:
HOMEWATCH_ALERTS_FILE, HOMEWATCH_WEBHOOK_URL. Secrets (the webhook's HMAC key, the SMTP
password) are read from the environment variable the file names (`secret_env`,
`password_env`) or from the file itself, never from or into the warehouse, and no log or
error message prints them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from pathlib import Path

from warehouse.errors import WarehouseError

ENV_CONFIG = "HOMEWATCH_CONFIG"


class AlertConfigError(WarehouseError):
    """The alert configuration is wrong; the message names the key."""


@dataclasses.dataclass
class AlertSettings:
    merge_gap_minutes: int = 30        # detector rows less than this apart are one incident
    cooldown_minutes: int = 360        # a new alert of a household+class this soon after the last sent one is not sent
    quiet_hours: str = "22:00-07:00"   # local time of the household: low-severity alerts are not sent ("" = none)
    max_age_hours: float = 48.0        # an alert that ended this long before the newest data is stored, not sent
    # feedback (warehouse/alerts/feedback.py): strictness of a household+class = #false - #true
    # labels, clamped to 0..max_strictness_named (a named class: a rule or the classifier said
    # what it is); for the generic classes sensor_anomaly, sensor_health per household, class and
    # sensor, clamped to 0..max_strictness, and for the household as a whole (any sensor) to
    # 0..max_strictness_household;
    # `pattern_labels` false alarms starting within pattern_window_hours of one local hour make a
    # quiet pattern there (for alerts as short as those, see pattern_shape_factor), which a 'true'
    # label near that hour removes
    max_strictness: int = 3
    max_strictness_named: int = 1
    max_strictness_household: int = 1   # a generic class, the household as a whole (any sensor)
    pattern_labels: int = 2
    pattern_window_hours: int = 1
    pattern_shape_factor: float = 2.0   # a pattern holds back alerts up to this times its longest false alarm ...
    pattern_shape_min_minutes: int = 60  # ... or up to this long, if that is longer (steps are coarse)
    pattern_max_minutes: int = 720      # a false alarm longer than this is no routine of an hour: no pattern
    # what the labels of all homes (the fleet) add: one false alarm of a household makes a quiet
    # pattern where false alarms of the class near that hour came from at least fleet_min_labels
    # homes and at most fleet_max_true_share of the labels near it were true; and a duration gate
    # (pattern_labels short false alarms of a household+class, none of its true ones as short)
    # needs at least fleet_min_labels true alerts of the class in all homes, at most
    # fleet_max_true_share of them as short as the gate
    fleet_min_labels: int = 3
    fleet_max_true_share: float = 0.2


@dataclasses.dataclass
class FileSink:
    path: str = ""                     # default: <reports dir>/alerts.jsonl


@dataclasses.dataclass
class WebhookSink:
    url: str = ""
    secret: str = ""                   # prefer secret_env; a secret here stays in this file only
    secret_env: str = "HOMEWATCH_WEBHOOK_SECRET"
    timeout_s: float = 5.0
    max_attempts: int = 4              # per delivery per run; what still fails stays pending for the next run
    backoff_s: float = 1.0             # waits backoff_s, 2*backoff_s, ... between attempts


@dataclasses.dataclass
class EmailSink:
    host: str = ""
    port: int = 25
    sender: str = "homewatch@localhost"
    to: list[str] = dataclasses.field(default_factory=list)
    starttls: bool = False
    user: str = ""
    password_env: str = "HOMEWATCH_SMTP_PASSWORD"
    timeout_s: float = 10.0


@dataclasses.dataclass
class AlertConfig:
    alerts: AlertSettings = dataclasses.field(default_factory=AlertSettings)
    file: FileSink | None = dataclasses.field(default_factory=FileSink)
    webhook: WebhookSink | None = None
    email: EmailSink | None = None
    source: str = "defaults"

    def sinks(self) -> list[str]:
        return [name for name in ("file", "webhook", "email") if getattr(self, name) is not None]

    def quiet_window(self) -> tuple[dt.time, dt.time] | None:
        text = self.alerts.quiet_hours.strip()
        if not text:
            return None
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise AlertConfigError(f"{self.source}: alerts.quiet_hours {text!r} is not like 22:00-07:00") from None
        return start, end


def _build(cls, table: dict, where: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise AlertConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return cls(**table)


def load_config(path: str | os.PathLike | None = None) -> AlertConfig:
    """The alert configuration (see the module doc); AlertConfigError names a wrong key."""
    chosen = path or os.environ.get(ENV_CONFIG) or ("homewatch.toml" if Path("homewatch.toml").exists() else None)
    data: dict = {}
    config = AlertConfig()
    if chosen:
        file = Path(chosen)
        try:
            data = tomllib.loads(file.read_text())
        except FileNotFoundError:
            raise AlertConfigError(f"no alert configuration at {file} (${ENV_CONFIG} or --config)") from None
        except tomllib.TOMLDecodeError as exc:
            raise AlertConfigError(f"{file} is not valid TOML: {exc}") from None
        config.source = str(file)
    unknown = sorted(set(data) - {"alerts", "sinks"})
    if unknown:
        raise AlertConfigError(f"{config.source}: unknown section(s) {', '.join(unknown)}; known: alerts, sinks")
    config.alerts = _build(AlertSettings, data.get("alerts", {}), f"{config.source} [alerts]")
    sinks = data.get("sinks")
    if sinks is not None:
        bad = sorted(set(sinks) - {"file", "webhook", "email"})
        if bad:
            raise AlertConfigError(f"{config.source}: unknown sink(s) {', '.join(bad)}; known: file, webhook, email")
        config.file = _build(FileSink, sinks["file"], "[sinks.file]") if "file" in sinks else None
        config.webhook = _build(WebhookSink, sinks["webhook"], "[sinks.webhook]") if "webhook" in sinks else None
        config.email = _build(EmailSink, sinks["email"], "[sinks.email]") if "email" in sinks else None
    if os.environ.get("HOMEWATCH_ALERTS_FILE"):
        config.file = FileSink(os.environ["HOMEWATCH_ALERTS_FILE"])
    if os.environ.get("HOMEWATCH_WEBHOOK_URL"):
        config.webhook = dataclasses.replace(config.webhook or WebhookSink(), url=os.environ["HOMEWATCH_WEBHOOK_URL"])
    if config.webhook is not None and not config.webhook.url.startswith(("http://", "https://")):
        raise AlertConfigError(f"{config.source}: sinks.webhook.url {config.webhook.url!r} is not an http(s) URL")
    if config.email is not None and (not config.email.host or not config.email.to):
        raise AlertConfigError(f"{config.source}: sinks.email needs host and to")
    config.quiet_window()   # checked here, once
    return config
