"""Each channel against a real local server that checks the request the service documents
(aiohttp for webhook, Slack, Teams, SMS gateway and ntfy; aiosmtpd for e-mail with STARTTLS,
implicit TLS and AUTH)."""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.notify_servers import HttpServer, Request, SmtpServer, self_signed, server_context
from vigie.config import ConfigError, ReceiverConfig, validate
from vigie.pipelines.notify.base import Permanent
from vigie.pipelines.notify.channels import make_channel, route_channels

# aiosmtpd warns of AUTH required without STARTTLS; with implicit TLS the whole connection is encrypted.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
NOW = "2026-11-29T22:10:00.000000Z"
CONSOLE = "https://vigie.example.org"


def _alert(host: str, component: str, severity: str = "critical", summary: str = "") -> dict:
    return {"schema": "alert/1", "fingerprint": f"{host}|check|{component}", "status": "firing", "severity": severity,
            "host": host, "site": "mairie", "component": component, "summary": summary or f"{host} {component} en échec",
            "first_seen": NOW, "last_seen": NOW, "count": 1, "state_type": "hard", "flapping": False,
            "suppressed_by": None, "incident_id": "inc-42", "sources": ["check"]}


def notification(reason: str = "new") -> dict:
    alerts = [_alert("rtr1", "PING", summary="rtr1 injoignable"), _alert("sw2", "PING", "major")]
    incident = {"schema": "incident/1", "id": "inc-42", "status": "open", "opened_at": NOW, "updated_at": NOW,
                "resolved_at": None, "severity": "critical", "site": "mairie",
                "root_cause": {"host": "rtr1", "component": "PING"}, "alerts": [a["fingerprint"] for a in alerts],
                "explain": "rtr1 is the parent of sw2"}
    return {"schema": "notification/1", "id": "n-1", "route": "staff", "reason": reason, "at": NOW,
            "alert": None, "incident": incident, "alerts": alerts}


def receiver(**keys: object) -> ReceiverConfig:
    """A receiver table as the config checks it."""
    return validate({"receivers": {"r": keys}}).receivers["r"]


@pytest.fixture()
def certs(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture()
def servers() -> Iterator[list[HttpServer]]:
    made: list[HttpServer] = []
    yield made
    for s in made:
        s.close()


def serve(servers: list[HttpServer], **kwargs: object) -> HttpServer:
    s = HttpServer(**kwargs)  # type: ignore[arg-type]
    servers.append(s)
    return s


# ---- webhook -------------------------------------------------------------------------------------------------


def test_webhook_over_tls_with_headers_and_bearer_from_env(servers, certs, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    server = serve(servers, tls=server_context(*certs))
    rc = receiver(type="webhook", url=f"{server.url}/hook", headers={"X-Tenant": "syndicat"},
                  bearer_token_env="HOOK_TOKEN", ca_file=str(certs[0]))
    make_channel("portal", rc, CONSOLE).send(notification())
    req = server.requests[0]
    assert req.method == "POST" and req.path == "/hook" and req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == "Bearer t0ken" and req.headers["X-Tenant"] == "syndicat"
    body = json.loads(req.body)
    assert body["version"] == "4" and body["receiver"] == "portal" and body["status"] == "firing"
    assert [a["labels"]["host"] for a in body["alerts"]] == ["rtr1", "sw2"]  # the member alerts
    assert body["alerts"][0]["generatorURL"].startswith(CONSOLE + "/alerts/")
    assert body["commonAnnotations"]["vigie_reason"] == "new"
    assert body["commonAnnotations"]["incident_id"] == "inc-42"


def test_webhook_tls_checks_the_certificate_unless_told_not_to(servers, certs, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_PASSWORD", "pw")
    server = serve(servers, tls=server_context(*certs))
    untrusted = make_channel("portal", receiver(type="webhook", url=server.url))
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusted.send(notification())
    assert server.requests == []
    skipping = receiver(type="webhook", url=server.url, insecure_skip_verify=True, basic_username="vigie",
                        basic_password_env="HOOK_PASSWORD")
    make_channel("portal", skipping).send(notification())
    assert server.requests[0].headers["Authorization"] == "Basic " + base64.b64encode(b"vigie:pw").decode()


def test_webhook_4xx_is_permanent_5xx_and_429_are_worth_retrying(servers) -> None:
    server = serve(servers, statuses=[503, 429, 404])
    channel = make_channel("portal", receiver(type="webhook", url=server.url))
    for _ in range(2):
        with pytest.raises(OSError):
            channel.send(notification())
    with pytest.raises(Permanent, match="HTTP 404"):
        channel.send(notification())


def test_missing_secret_is_one_config_line() -> None:
    with pytest.raises(ConfigError, match="receivers.portal.bearer_token_env: expected environment variable NOPE"):
        make_channel("portal", receiver(type="webhook", url="http://x/", bearer_token_env="NOPE"))


def test_a_route_lists_receivers_and_keeps_the_webhook_shorthand() -> None:
    cfg = validate({"receivers": {"mail": {"type": "email", "smarthost": "127.0.0.1:25", "from": "v@x", "to": ["a@x"]},
                                  "push": {"type": "ntfy", "url": "http://127.0.0.1/t"}},
                    "routes": [{"name": "staff", "webhook": "http://127.0.0.1/hook", "receivers": ["mail"],
                                "fallback": "push"}]})
    channels, fallback = route_channels(cfg, "staff")
    assert [(c.receiver, c.kind) for c in channels] == [("staff", "webhook"), ("mail", "email")]
    assert fallback is not None and (fallback.receiver, fallback.kind) == ("push", "ntfy")
    with pytest.raises(ConfigError, match=r"routes\[0\].receivers\[0\]: expected a \[receivers\] name"):
        validate({"routes": [{"name": "staff", "receivers": ["nobody"]}]})
    with pytest.raises(ConfigError, match="receivers.m.from: expected a value for a email receiver"):
        validate({"receivers": {"m": {"type": "email", "smarthost": "127.0.0.1:25", "to": ["a@x"]}}})


# ---- e-mail --------------------------------------------------------------------------------------------------


def _mail(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def test_email_starttls_with_auth_plain_and_html_in_french(certs, monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    server = SmtpServer(*certs, mode="starttls")
    try:
        rc = receiver(type="email", smarthost=f"127.0.0.1:{server.port}", tls="starttls", username="vigie",
                      password_env="SMTP_PASSWORD", ca_file=str(certs[0]), to=["astreinte@mairie.example"],
                      **{"from": "vigie@syndicat.example"})
        make_channel("oncall-mail", rc, CONSOLE).send(notification())
    finally:
        server.close()
    sender, rcpts, raw, authenticated = server.mails[0]
    assert (sender, rcpts, authenticated) == ("vigie@syndicat.example", ["astreinte@mairie.example"], True)
    mail = _mail(raw)
    assert mail["Subject"] == "[CRITICAL] Nouveau problème : rtr1 PING (+1)"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Site : mairie" in plain and "Incident : inc-42" in plain and "Cause probable : rtr1 PING" in plain
    assert "- CRITICAL rtr1 PING: rtr1 injoignable, depuis" in plain and "MAJOR sw2 PING" in plain
    assert f"{CONSOLE}/incidents/inc-42" in plain
    assert f'<a href="{CONSOLE}/incidents/inc-42">Ouvrir dans la console</a>' in html and 'lang="fr"' in html
    assert mail["Message-ID"].endswith("@syndicat.example>")  # derived from the notification's id


def test_email_implicit_tls_in_english(certs, monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    server = SmtpServer(*certs, mode="tls")
    try:
        rc = receiver(type="email", smarthost=f"127.0.0.1:{server.port}", tls="tls", username="vigie",
                      password_env="SMTP_PASSWORD", ca_file=str(certs[0]), to=["ops@example.org"], language="en",
                      html=False, **{"from": "vigie@example.org"})
        make_channel("ops-mail", rc).send(notification("resolved"))
    finally:
        server.close()
    mail = _mail(server.mails[0][2])
    assert mail["Subject"] == "[CRITICAL] Resolved: rtr1 PING (+1)"
    assert mail.get_content_type() == "text/plain"  # html = false
    assert "Probable cause: rtr1 PING" in mail.get_content()


def test_email_refused_password_is_permanent_and_no_tls_is_refused(certs, monkeypatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    server = SmtpServer(*certs, mode="starttls")
    try:
        base = {"type": "email", "smarthost": f"127.0.0.1:{server.port}", "username": "vigie",
                "password_env": "SMTP_PASSWORD", "ca_file": str(certs[0]), "to": ["a@x"], "from": "v@x"}
        with pytest.raises(Permanent, match="authentication refused"):
            make_channel("m", receiver(**base)).send(notification())
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
        with pytest.raises(Permanent):  # the server requires STARTTLS: 530 is final
            make_channel("m", receiver(**{**base, "tls": "none"})).send(notification())
    finally:
        server.close()
    assert server.mails == []


# ---- chat ----------------------------------------------------------------------------------------------------


def slack_check(req: Request) -> str | None:
    """Slack's incoming webhook (also Mattermost's, Rocket.Chat's): POST application/json, `text` a string,
    `attachments` legacy objects with fallback, color, title, text."""
    if req.method != "POST" or not req.headers.get("Content-Type", "").startswith("application/json"):
        return "POST application/json expected"
    body = json.loads(req.body)
    if not isinstance(body.get("text"), str) or not body["text"]:
        return "text missing"
    for att in body.get("attachments", []):
        if not {"fallback", "color", "title", "text"} <= set(att) or not att["color"].startswith("#"):
            return "attachment malformed"
    return None


def test_slack_compatible_webhook(servers) -> None:
    server = serve(servers, check=slack_check)
    make_channel("chat", receiver(type="slack", url=f"{server.url}/hooks/abc", channel="#astreinte"),
                 CONSOLE).send(notification())
    assert server.problems == []
    body = json.loads(server.requests[0].body)
    assert body["text"] == "[CRITICAL] Nouveau problème : rtr1 PING (+1)" and body["channel"] == "#astreinte"
    att = body["attachments"][0]
    assert att["color"] == "#d00000" and att["title_link"] == f"{CONSOLE}/incidents/inc-42"
    assert "*Site* : mairie" in att["text"] and "• CRITICAL rtr1 PING: rtr1 injoignable" in att["text"]


def teams_check(req: Request) -> str | None:
    """Teams Workflows webhook: POST application/json {"type": "message", "attachments": [{"contentType":
    "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": AdaptiveCard}]}."""
    if req.method != "POST" or not req.headers.get("Content-Type", "").startswith("application/json"):
        return "POST application/json expected"
    body = json.loads(req.body)
    if body.get("type") != "message" or not isinstance(body.get("attachments"), list) or len(body["attachments"]) != 1:
        return "envelope"
    att = body["attachments"][0]
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive" or "contentUrl" not in att:
        return "attachment"
    card = att["content"]
    if card.get("type") != "AdaptiveCard" or card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        return "card"
    if not isinstance(card.get("version"), str) or not all("type" in b for b in card.get("body", [])):
        return "card body"
    return None


def test_teams_workflow_webhook_with_an_adaptive_card(servers) -> None:
    server = serve(servers, check=teams_check)
    make_channel("teams", receiver(type="teams", url=f"{server.url}/workflows/x", language="en"), CONSOLE).send(
        notification())
    assert server.problems == []
    card = json.loads(server.requests[0].body)["attachments"][0]["content"]
    assert card["body"][0]["text"] == "[CRITICAL] New problem: rtr1 PING (+1)"
    assert {"title": "Incident", "value": "inc-42"} in card["body"][1]["facts"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in the console",
                                "url": f"{CONSOLE}/incidents/inc-42"}]


# ---- ntfy ----------------------------------------------------------------------------------------------------


def ntfy_check(req: Request) -> str | None:
    """ntfy publish: POST/PUT to /<topic>, the message as the body, Title/Priority/Tags/Click headers,
    Priority 1-5 or min, low, default, high, max, urgent."""
    if req.method not in ("POST", "PUT") or req.path.count("/") != 1 or not req.body:
        return "POST /<topic> with a body expected"
    if req.headers.get("Priority") not in {"1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"}:
        return "priority"
    if not all(h in req.headers for h in ("Title", "Tags")):
        return "headers"
    return None


def test_ntfy_publish_with_title_priority_tags(servers, monkeypatch) -> None:
    monkeypatch.setenv("NTFY_TOKEN", "tk_abc")
    server = serve(servers, check=ntfy_check)
    make_channel("push", receiver(type="ntfy", url=f"{server.url}/vigie-alertes", tags=["mairie"],
                                  bearer_token_env="NTFY_TOKEN"), CONSOLE).send(notification())
    assert server.problems == []
    req = server.requests[0]
    title = str(email.header.make_header(email.header.decode_header(req.headers["Title"])))
    assert title == "[CRITICAL] Nouveau problème : rtr1 PING (+1)"  # non-ASCII: RFC 2047, as ntfy accepts
    assert req.headers["Priority"] == "high" and req.headers["Tags"] == "mairie,rotating_light"
    assert req.headers["Click"] == f"{CONSOLE}/incidents/inc-42" and req.headers["Authorization"] == "Bearer tk_abc"
    assert "CRITICAL rtr1 PING: rtr1 injoignable" in req.body.decode()


# ---- SMS gateway ---------------------------------------------------------------------------------------------


def test_sms_gateway_form_post_one_request_per_number(servers, monkeypatch) -> None:
    monkeypatch.setenv("SMS_PASSWORD", "pw")

    def check(req: Request) -> str | None:
        if req.method != "POST" or req.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return "form POST expected"
        form = parse_qs(req.body.decode())
        return None if set(form) == {"to", "text", "sender"} else f"fields {sorted(form)}"

    server = serve(servers, check=check)
    rc = receiver(type="sms", url=f"{server.url}/send", body="to={to}&text={message}&sender=VIGIE",
                  to=["+33600000001", "+33600000002"], basic_username="vigie", basic_password_env="SMS_PASSWORD")
    make_channel("oncall-sms", rc).send(notification())
    assert server.problems == []
    forms = [parse_qs(r.body.decode()) for r in server.requests]
    assert [f["to"] for f in forms] == [["+33600000001"], ["+33600000002"]]  # '+' survived the form encoding
    assert forms[0]["text"] == ["[CRITICAL] Nouveau problème : rtr1 PING (+1) (mairie)"]


def test_sms_gateway_json_and_get_templates(servers) -> None:
    def check(req: Request) -> str | None:
        if req.method == "GET":
            return None if {"dest", "msg"} <= set(req.query) else "query"
        body = json.loads(req.body)  # the template's JSON stays valid whatever the message holds
        return None if set(body) == {"messages"} and body["messages"][0]["to"] else "json"

    server = serve(servers, check=check)
    template = '{"messages": [{"to": "{to}", "body": "{message}"}]}'
    make_channel("j", receiver(type="sms", url=server.url, body=template, content_type="application/json",
                               to=["+33611"])).send(notification())
    make_channel("g", receiver(type="sms", url=f"{server.url}/api?key=k", method="GET", body="dest={to}&msg={message}",
                               to=["+33622"])).send(notification())
    assert server.problems == []
    assert json.loads(server.requests[0].body)["messages"][0]["body"].startswith("[CRITICAL] Nouveau")
    assert server.requests[1].query["dest"] == "+33622" and server.requests[1].query["key"] == "k"
