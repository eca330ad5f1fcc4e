"""faust Record classes for every value on Vigie's topics, and a plain-dict decoder for other consumers.

Subscribers write `app.topic("vigie.alerts", value_type=Alert)` and get typed values; programs
without Faust call `decode(raw)` for a dict (optionally checked against its JSON Schema). The
classes mirror schemas/json one field per property (tests/unit/test_records.py fails when a schema
gains or loses a property and its class does not): a property the schema requires has no default,
the others default to None. Timestamps stay strings (RFC 3339, UTC) so that a value re-encoded is
the one that was read. `include_metadata=False`: values are plain JSON, as Vigie writes them.
A value's `schema` field names its kind and version ("alert/1"); `record_class()` maps it to a class.
"""

from typing import Any

from faust import Record

from vigie.schemas.codec import loads


class Action(Record, namespace="vigie.action", include_metadata=False, serializer="json"):
    """action/1: one step of a guarded automatic action on the actions topic, keyed by the action's name."""

    schema: str
    action: str
    step: str
    at: str
    id: str | None = None
    armed: bool | None = None
    deadline: str | None = None
    targets: list | None = None
    sources: dict | None = None
    author: str | None = None
    reason: str | None = None
    commands: list | None = None
    results: list | None = None
    ok: bool | None = None


class Alert(Record, namespace="vigie.alert", include_metadata=False, serializer="json"):
    """alert/1: the state of one deduplicated alert (compacted by fingerprint)."""

    schema: str
    fingerprint: str
    status: str
    severity: str
    host: str
    site: str | None
    component: str | None
    summary: str
    first_seen: str
    last_seen: str
    count: int
    state_type: str
    flapping: bool
    suppressed_by: Any
    incident_id: str | None
    sources: list


class CheckResult(Record, namespace="vigie.check_result", include_metadata=False, serializer="json"):
    """check_result/1: one host or service check result (Nagios plugin API)."""

    schema: str
    host: str
    service: str | None
    status: Any
    output: str
    perfdata: list
    check_time: str
    source: str
    long_output: str | None = None
    duration: float | None = None


class Control(Record, namespace="vigie.control", include_metadata=False, serializer="json"):
    """control/1: a command on the compacted control topic, keyed by its id: silence, acknowledgement, maintenance window, topology update, or a person's comment (kept for the console, ignored by the correlation worker). A tombstone (null value) on the id withdraws it."""

    schema: str
    kind: str
    id: str
    author: str
    reason: str | None = None  # required by every kind but comment (the schema's if/then)
    start: str | None = None
    end: str | None = None
    created_at: str | None = None
    matchers: list | None = None
    fingerprint: str | None = None
    host: str | None = None
    service: str | None = None
    hosts: Any = None
    recurrence: dict | None = None
    parents: dict | None = None
    target: str | None = None
    include_children: bool | None = None
    text: str | None = None


class DeadLetter(Record, namespace="vigie.deadletter", include_metadata=False, serializer="json"):
    """deadletter/1: input that a stage could not decode: why, where, and the exact bytes."""

    schema: str
    stage: str
    error: str
    raw: str
    origin: dict
    raw_size: int | None = None
    raw_sha256: str | None = None
    at: str | None = None


class Event(Record, namespace="vigie.event", include_metadata=False, serializer="json"):
    """event/1: a normalized event: what one raw record means for supervision."""

    schema: str
    id: str
    ts: str
    kind: str
    host: str
    site: str | None
    component: str | None
    severity: str
    fingerprint: str
    clears: str | None
    summary: str
    attributes: dict
    origin: Any


class Incident(Record, namespace="vigie.incident", include_metadata=False, serializer="json"):
    """incident/1: a correlated incident: alerts of one site with one root cause, and why they were grouped."""

    schema: str
    id: str
    status: str
    opened_at: str
    updated_at: str
    resolved_at: str | None
    severity: str
    site: str | None
    root_cause: dict
    alerts: list
    explain: list


class Notification(Record, namespace="vigie.notification", include_metadata=False, serializer="json"):
    """notification/1: one notification to deliver on a route."""

    schema: str
    route: str
    reason: str
    at: str
    id: str | None = None
    receiver: str | None = None
    alert: dict | None = None
    incident: dict | None = None
    alerts: list | None = None
    truncated_alerts: int | None = None
    group: dict | None = None
    failure: dict | None = None


class RawSyslogHeaders(Record, namespace="vigie.raw_syslog_headers", include_metadata=False, serializer="json"):
    """raw_syslog_headers/1: the Kafka headers of a raw.syslog record (its value is the exact bytes of one message), as an object for validation."""

    schema: str
    received_at: str
    peer: str
    transport: str
    listener: str
    truncated: str | None = None


class Report(Record, namespace="vigie.report", include_metadata=False, serializer="json"):
    """report/1: a report the correlation worker publishes on the notifications topic, keyed <kind>:<ref>: today the end of a maintenance window, with what still fails."""

    schema: str
    kind: str
    ref: str
    at: str
    still_failing: list | None = None


class Trap(Record, namespace="vigie.trap", include_metadata=False, serializer="json"):
    """trap/1: one SNMP notification (v1 converted to the v2 form, RFC 3584). Never carries v3 keys."""

    schema: str
    version: str
    trap_oid: str
    agent_address: str
    varbinds: list
    received_at: str
    peer: str
    community: str | None = None
    user: str | None = None
    trap_name: str | None = None
    uptime: int | None = None
    attributes: dict | None = None


RECORDS: dict[str, type[Record]] = {cls.__doc__.split(":", 1)[0]: cls for cls in (  # type: ignore[union-attr]
    Action, Alert, CheckResult, Control, DeadLetter, Event, Incident, Notification, RawSyslogHeaders, Report, Trap)}
"""The class of each value kind, by its `schema` name ("alert/1" -> Alert)."""


def decode(raw: bytes | None, check: bool = False) -> dict[str, Any] | None:
    """A topic value as a plain dict (None for a tombstone); check=True validates it against its JSON Schema
    and raises vigie.schemas.validate.SchemaError on a mismatch."""
    if raw is None:
        return None
    value = loads(raw)
    if check:
        from vigie.schemas.validate import validate

        validate(value)
    return value


def record_class(value: dict[str, Any]) -> type[Record]:
    """The Record class for a decoded value, by its `schema` field; KeyError for an unknown kind."""
    return RECORDS[value["schema"]]


def to_record(value: dict[str, Any]) -> Record:
    """A decoded value as its Record (keys outside the schema are refused by the class)."""
    return record_class(value)(**value)
