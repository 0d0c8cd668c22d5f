"""TOML configuration loaded into frozen dataclasses, validated once at load.

Unknown sections and keys are errors (a typo such as `max_mesage_size` must not silently fall
back to a default). Relative paths are resolved against the current working directory, as
INTERFACE.md promises, so the packaged default keeps its state under `./var`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from maildaemon.calendar_config import calendar_from_section
from maildaemon.domain import DEFAULT_ALLOWED, MIB
from maildaemon.edge_config import check as check_edge
from maildaemon.escalation_config import EscalationSection, PremiumSection, check
from maildaemon.limits_config import DuplicatesSection, FloodSection
from maildaemon.limits_config import check as check_limits
from maildaemon.listener_config import check as check_listener
from maildaemon.metrics_config import MetricsSection
from maildaemon.metrics_config import check as check_metrics
from maildaemon.policy.sla import SlaTable
from maildaemon.portal_config import PortalSection
from maildaemon.portal_config import check as check_portal
from maildaemon.priority_config import PrioritySection, priority_rules
from maildaemon.privacy_config import PrivacySection
from maildaemon.privacy_config import check as check_privacy
from maildaemon.resources import shipped_file
from maildaemon.sla_config import as_written, sla_table
from maildaemon.storage_config import check as check_storage
from maildaemon.templates_config import TemplatesSection
from maildaemon.templates_config import check as check_templates

QUEUE_ORDER = ("escalation", "bugs", "billing", "tech", "support")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True)
class MailSection:
    domain: str = "healthsync.com"
    # Authentication-Results headers from this authserv-id (our own MTA) are believed.
    trusted_authserv_id: str = ""
    # Addresses of an opening mail that become participants; the rest are recorded only.
    max_participants: int = 20


@dataclass(frozen=True)
class RoutingSection:
    # When one message reaches several queues, the first of these wins.
    order: tuple[str, ...] = QUEUE_ORDER
    # Queue for mail fed to `ingest` whose To/Cc names none of our addresses.
    default_queue: str = "support"


@dataclass(frozen=True)
class SmtpSection:
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_size: int = 78_643_200
    hostname: str = ""
    timeout: float = 300.0
    # Seconds a client may take for a whole DATA upload that keeps sending.
    data_timeout: float = 3600.0
    drain_seconds: float = 30.0
    # "smtp", or "lmtp" (RFC 2033) behind an MTA; `socket`: a unix socket path instead of
    # host/port, made with `socket_mode` and `socket_group` (listener_config.py).
    protocol: str = "smtp"
    socket: str = ""
    socket_mode: str = "0660"
    socket_group: str = ""
    # Recipients per message; the next RCPT gets 452 4.5.3 (RFC 5321 4.5.3.1.10).
    max_recipients: int = 100
    # Limits against hostile clients and inbound STARTTLS (edge_config.py checks them).
    max_connections: int = 200
    max_connections_per_ip: int = 20
    max_header_size: int = 1_048_576
    tls_cert: str = ""
    tls_key: str = ""
    require_tls: bool = False


@dataclass(frozen=True)
class StorageSection:
    data_dir: str = "var"
    # Empty: SQLite in data_dir. Or "postgresql://user@host/db" (storage_config.py).
    database: str = ""
    database_password_file: str = ""
    # Closed tickets' content is purged this many days after closing (retention.py); 0: never.
    retention_days: int = 0


@dataclass(frozen=True)
class OutboundSection:
    transport: str = "maildir"
    maildir: str = "var/outbound"
    relay_host: str = "127.0.0.1"
    relay_port: int = 25
    starttls: bool = False
    ca_file: str = ""
    username: str = ""
    password_file: str = ""
    max_attempts: int = 8
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    timeout: float = 30.0


@dataclass(frozen=True)
class StaffSection:
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutoreplySection:
    # Automatic answers to one address within an hour, after which we stay silent.
    max_per_hour: int = 5
    # And within a day (limits_config.py).
    max_per_day: int = 20


@dataclass(frozen=True)
class BusinessHoursSection:
    # The working week that business-hour and business-day targets count in: local times
    # in `timezone` (an IANA name), weekday names, holidays as "YYYY-MM-DD".
    timezone: str = "UTC"
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "09:00"
    end: str = "17:00"
    holidays: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpoolSection:
    max_attempts: int = 3
    # A worker whose heartbeat stops this long is killed and restarted by serve.
    worker_stall_seconds: float = 120.0


@dataclass(frozen=True)
class AttachmentsSection:
    # Per ticket, across all its messages. Types are what libmagic finds in the bytes.
    max_files: int = 5
    max_file_bytes: int = 10 * MIB
    max_ticket_bytes: int = 50 * MIB
    allowed_types: tuple[str, ...] = tuple(sorted(DEFAULT_ALLOWED))


@dataclass(frozen=True)
class LifecycleSection:
    # A reply to a closed ticket within this many days reopens it; later, a new linked ticket.
    reopen_days: float = 7.0
    # A ticket waiting for the customer: one reminder, then marked, then closed.
    remind_days: float = 3.0
    mark_days: float = 7.0
    close_days: float = 14.0
    # A resolved ticket without a reply closes after this many days.
    resolved_days: float = 7.0
    sweep_seconds: float = 60.0


@dataclass(frozen=True)
class NotificationsSection:
    # A customer's files up to this size in all are attached to the team's notification;
    # beyond it the notification names the `maildaemon attachment` commands instead.
    max_attached_bytes: int = 5 * MIB
    # The daily digest per team: "HH:MM" in `digest_timezone` (an IANA name); "" is off.
    digest_at: str = ""
    digest_timezone: str = "UTC"


@dataclass(frozen=True)
class Config:
    mail: MailSection = field(default_factory=MailSection)
    queues: dict[str, str] = field(
        default_factory=lambda: {name: name for name in reversed(QUEUE_ORDER)}
    )
    routing: RoutingSection = field(default_factory=RoutingSection)
    smtp: SmtpSection = field(default_factory=SmtpSection)
    storage: StorageSection = field(default_factory=StorageSection)
    outbound: OutboundSection = field(default_factory=OutboundSection)
    staff: StaffSection = field(default_factory=StaffSection)
    autoreply: AutoreplySection = field(default_factory=AutoreplySection)
    # SLA targets by priority and tier (sla_config.py reads [sla]; policy/sla.py).
    sla: SlaTable = field(default_factory=SlaTable)
    business_hours: BusinessHoursSection = field(default_factory=BusinessHoursSection)
    spool: SpoolSection = field(default_factory=SpoolSection)
    lifecycle: LifecycleSection = field(default_factory=LifecycleSection)
    attachments: AttachmentsSection = field(default_factory=AttachmentsSection)
    # queue -> the internal addresses notified of its tickets; "default" for the others.
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notifications: NotificationsSection = field(default_factory=NotificationsSection)
    # queue -> the managers told of SLA breaches and escalations; "default" for the others.
    managers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    escalation: EscalationSection = field(default_factory=EscalationSection)
    premium: PremiumSection = field(default_factory=PremiumSection)
    # The phrases that make a new ticket critical, high or low (priority_config.py).
    priority: PrioritySection = field(default_factory=PrioritySection)
    # A flood of new tickets from one address; the same issue sent twice (limits_config.py).
    flood: FloodSection = field(default_factory=FloodSection)
    duplicates: DuplicatesSection = field(default_factory=DuplicatesSection)
    # Sensitive data masked before anything keeps it, and the customer told (privacy_config.py).
    privacy: PrivacySection = field(default_factory=PrivacySection)
    # Prometheus text and /healthz over HTTP, off when empty (metrics_config.py).
    metrics: MetricsSection = field(default_factory=MetricsSection)
    # The HTTP API and customer portal, off when `listen` is empty (portal_config.py).
    portal: PortalSection = field(default_factory=PortalSection)
    source: str = "<defaults>"
    # The operator's templates, overriding the shipped ones file by file (templates_config.py).
    templates: TemplatesSection = field(default_factory=TemplatesSection)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir).resolve()

    @property
    def maildir(self) -> Path:
        return Path(self.outbound.maildir).resolve()

    def team_of(self, queue: str) -> tuple[str, ...]:
        """Who is notified of a queue's tickets: its team, else the default team."""
        return self.teams.get(queue) or self.teams.get("default", ())

    def managers_of(self, queue: str) -> tuple[str, ...]:
        """Who hears of a queue's breaches and escalations: its managers, else the default."""
        return self.managers.get(queue) or self.managers.get("default", ())

    def queue_address(self, queue: str) -> str:
        for local, name in self.queues.items():
            if name == queue:
                return f"{local}@{self.mail.domain}"
        return f"{queue}@{self.mail.domain}"


def default_config_path() -> Path:
    return shipped_file("config", "maildaemon.toml")


def resolve_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAILDAEMON_CONFIG")
    return Path(env) if env else default_config_path()


def load_config(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Config:
    hints = get_type_hints(Config)
    values: dict[str, Any] = {"source": source}
    for section, body in raw.items():
        if section not in hints or section == "source":
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        if section == "queues":
            values["queues"] = _queues(body, source)
        elif section in ("teams", "managers"):
            values[section] = _teams(body, source, section)
        elif section == "business_hours":
            values[section] = _section(hints[section], section, _dates_as_text(body), source)
        elif section == "sla":
            values[section] = _sla(body, source)
        else:
            values[section] = _section(hints[section], section, body, source)
    config = Config(**values)
    _validate(config)
    return config


def _queues(body: dict[str, Any], source: str) -> dict[str, str]:
    if not body:
        raise ConfigError(f"{source}: [queues] must name at least one queue")
    for local, name in body.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: [queues] {local} must be a queue name (a string)")
        if "@" in local or not local:
            raise ConfigError(f"{source}: [queues] key {local!r} must be a bare local part")
    return {local.lower(): name for local, name in body.items()}


def _teams(body: dict[str, Any], source: str, section: str = "teams"
           ) -> dict[str, tuple[str, ...]]:
    """`[teams]` and `[managers]`: queue (or "default") -> a list of internal addresses."""
    teams: dict[str, tuple[str, ...]] = {}
    for queue, addresses in body.items():
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and "@" in a for a in addresses):
            raise ConfigError(f"{source}: [{section}] {queue} must be a list of addresses")
        teams[queue] = tuple(dict.fromkeys(a.strip().lower() for a in addresses))
    return teams


def _sla(body: dict[str, Any], source: str) -> SlaTable:
    try:
        return sla_table(body)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _dates_as_text(body: dict[str, Any]) -> dict[str, Any]:
    """Holidays written as TOML dates (2026-12-25, unquoted) read as their ISO text."""
    holidays = body.get("holidays")
    if not isinstance(holidays, list):
        return body
    return {**body, "holidays": [h.isoformat() if isinstance(h, date) else h
                                 for h in holidays]}


def _section(cls: type, name: str, body: dict[str, Any], source: str) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in body.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"{source}: unknown key {name}.{key} (known: {known})")
        kwargs[key] = _coerce(hints[key], value, f"{name}.{key}", source)
    return cls(**kwargs)


def _coerce(expected: Any, value: Any, key: str, source: str) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, not {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be a whole number, not {value!r}")
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{source}: {key} must be a number, not {value!r}")
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, not {value!r}")
        return value
    # tuple[str, ...]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {key} must be a list of strings, not {value!r}")
    return tuple(value)


def _validate(config: Config) -> None:
    src = config.source
    domain = config.mail.domain
    if not domain or "@" in domain or " " in domain:
        raise ConfigError(f"{src}: mail.domain must be a bare domain such as example.com")
    queues = set(config.queues.values())
    for name in config.routing.order:
        if name not in queues:
            raise ConfigError(f"{src}: routing.order names {name!r}, which is not in [queues]")
    if config.routing.default_queue not in queues:
        raise ConfigError(
            f"{src}: routing.default_queue {config.routing.default_queue!r} is not in [queues]"
        )
    if not 0 < config.smtp.port < 65536:
        raise ConfigError(f"{src}: smtp.port must be between 1 and 65535")
    if config.smtp.max_message_size < 1024:
        raise ConfigError(f"{src}: smtp.max_message_size must be at least 1024 bytes")
    if config.smtp.timeout <= 0 or config.smtp.data_timeout <= 0:
        raise ConfigError(f"{src}: smtp.timeout and smtp.data_timeout must be > 0")
    if config.mail.max_participants < 1:
        raise ConfigError(f"{src}: mail.max_participants must be at least 1")
    if re.search(r'[\s;()"=\\]', config.mail.trusted_authserv_id.strip()):
        raise ConfigError(f"{src}: mail.trusted_authserv_id must be an authserv-id as your MTA"
                          " writes it first in Authentication-Results (a host name such as"
                          f" \"mx.example.com\"), not {config.mail.trusted_authserv_id!r}")
    if config.outbound.transport not in ("maildir", "smtp"):
        raise ConfigError(f"{src}: outbound.transport must be \"maildir\" or \"smtp\"")
    if config.spool.worker_stall_seconds < 10:
        raise ConfigError(f"{src}: spool.worker_stall_seconds must be at least 10")
    if config.outbound.max_attempts < 1 or config.spool.max_attempts < 1:
        raise ConfigError(f"{src}: max_attempts must be at least 1")
    if config.outbound.password_file and not config.outbound.username:
        raise ConfigError(f"{src}: outbound.password_file needs outbound.username")
    life = config.lifecycle
    if not 0 < life.remind_days < life.mark_days < life.close_days:
        raise ConfigError(f"{src}: lifecycle needs 0 < remind_days < mark_days < close_days")
    if life.resolved_days <= 0 or life.sweep_seconds <= 0:
        raise ConfigError(f"{src}: lifecycle.resolved_days and sweep_seconds must be > 0")
    files = config.attachments
    if files.max_files < 0 or files.max_file_bytes < 0 or files.max_ticket_bytes < 0:
        raise ConfigError(f"{src}: attachments limits must not be negative")
    for kind in files.allowed_types:
        if "/" not in kind:
            raise ConfigError(f"{src}: attachments.allowed_types: {kind!r} is not a MIME type")
    for queue in config.teams:
        if queue not in ("default", "ops") and queue not in queues:  # ops: held mail
            raise ConfigError(f"{src}: [teams] names {queue!r}, which is not in [queues]")
    for queue in config.managers:
        if queue != "default" and queue not in queues:
            raise ConfigError(f"{src}: [managers] names {queue!r}, which is not in [queues]")
    if config.notifications.max_attached_bytes < 0:
        raise ConfigError(f"{src}: notifications.max_attached_bytes must not be negative")
    _validate_digest(config.notifications, src)
    try:
        calendar_from_section(config.business_hours)
    except ValueError as exc:
        raise ConfigError(f"{src}: {exc}") from None
    if not 0 <= config.storage.retention_days <= 36_500:
        raise ConfigError(f"{src}: storage.retention_days must be 0 (keep everything) or a"
                          f" number of days up to 36500, not {config.storage.retention_days}")
    try:
        check_storage(config.storage.database, config.storage.database_password_file)
    except ValueError as exc:
        raise ConfigError(f"{src}: {exc}") from None
    if config.autoreply.max_per_hour < 0:
        raise ConfigError(f"{src}: autoreply.max_per_hour must not be negative")
    try:
        check(config.escalation, config.premium)
        priority_rules(config.priority)
        check_limits(config.autoreply.max_per_day, config.flood, config.duplicates)
        check_privacy(config.privacy)
        smtp = config.smtp
        check_listener(smtp.protocol, smtp.socket, smtp.socket_mode, smtp.socket_group,
                       smtp.max_recipients)
        check_templates(config.templates)
        check_metrics(config.metrics)
        check_portal(config.portal)
        check_edge(config.smtp)
    except ValueError as exc:
        raise ConfigError(f"{src}: {exc}") from None


def _validate_digest(notes: NotificationsSection, src: str) -> None:
    """The daily digest's time ("HH:MM" or "" for off) and its IANA time zone."""
    if notes.digest_at and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", notes.digest_at):
        raise ConfigError(f"{src}: notifications.digest_at must be a time of day as HH:MM"
                          f" (e.g. \"08:00\") or \"\" for no digest, not {notes.digest_at!r}")
    try:
        ZoneInfo(notes.digest_timezone)
    except (ValueError, KeyError, OSError):  # not found: KeyError; a directory: OSError
        raise ConfigError(f"{src}: notifications.digest_timezone {notes.digest_timezone!r}"
                          " is not a known time zone (an IANA name such as"
                          " \"Europe/Berlin\")") from None


def describe(config: Config) -> dict[str, Any]:
    """Every effective setting, for `check-config` to print."""
    return {
        f.name: as_written(config.sla) if f.name == "sla"
        else dataclasses.asdict(getattr(config, f.name))
        if dataclasses.is_dataclass(getattr(config, f.name))
        else getattr(config, f.name)
        for f in dataclasses.fields(config)
    }
