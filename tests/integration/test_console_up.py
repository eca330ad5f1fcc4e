"""`vigie up` serves the console: ready only once it listens and has read the topics, a first admin made by
`vigie user add` logs in, and an alert on the topic is on the Problems page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.test_up_ready import Up
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port
from vigie.schemas.codec import dumps

pytestmark = pytest.mark.integration


def test_vigie_up_serves_the_console_to_the_first_admin(broker: KafkaSettings, tmp_path: Path) -> None:
    port, prefix = free_port(), "console-up."
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, prefix)}[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nenabled = false\n[archive]\nenabled = false\n[checks]\nactive_enabled = false\n'
                    f'[pipelines]\nenabled = false\n[console]\nlisten = "127.0.0.1:{port}"\n')
    add = subprocess.run([sys.executable, "-m", "vigie.app.cli", "user", "add", "chief", "--role", "admin",
                          "--password-stdin", "--config", str(conf)], input="a long enough secret\n",
                         capture_output=True, text=True, timeout=30)
    assert add.returncode == 0, add.stderr
    up = Up(conf, env=dict(os.environ))
    try:
        up.wait_line("ready", 90)
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(urllib.request.Request(base + "/login", data=b"name=chief&password=wrong+secret!",
                                               headers={"Origin": base}))
        assert refused.value.code == 401
        form = urllib.parse.urlencode({"name": "chief", "password": "a long enough secret", "next": "/problems"})
        page = opener.open(urllib.request.Request(base + "/login", data=form.encode(), headers={"Origin": base}))
        assert page.url.endswith("/problems") and page.status == 200
        alert = {"schema": "alert/1", "fingerprint": "fp-console-1", "status": "firing", "severity": "critical",
                 "host": "rtr-mairie", "site": "mairie", "component": "Gi0/1", "summary": "Interface Gi0/1 down",
                 "first_seen": "2026-12-07T20:00:00Z", "last_seen": "2026-12-07T20:00:00Z", "count": 1}
        producer = Producer(broker.librdkafka())
        producer.produce(prefix + "alerts", dumps(alert), b"fp-console-1")
        assert producer.flush(10) == 0
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline and "rtr-mairie" not in text:
            text = opener.open(base + "/problems").read().decode()
            time.sleep(0.2)
        assert re.search(r"rtr-mairie.*Gi0/1", text, re.S), text
    finally:
        assert up.stop() == 0, "\n".join(up.lines)


def test_the_console_over_tls_sends_secure_cookies_and_hsts(broker: KafkaSettings, tmp_path: Path) -> None:
    import ssl

    from tests.notify_servers import self_signed

    cert, key = self_signed(tmp_path, "127.0.0.1")
    port = free_port()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "console-tls.")}[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nenabled = false\n[archive]\nenabled = false\n[checks]\nactive_enabled = false\n'
                    f'[pipelines]\nenabled = false\n[console]\nlisten = "127.0.0.1:{port}"\n'
                    f'certfile = "{cert}"\nkeyfile = "{key}"\n')
    add = subprocess.run([sys.executable, "-m", "vigie.app.cli", "user", "add", "chief", "--role", "admin",
                          "--password-stdin", "--config", str(conf)], input="a long enough secret\n",
                         capture_output=True, text=True, timeout=30)
    assert add.returncode == 0, add.stderr
    up = Up(conf, env=dict(os.environ))
    try:
        up.wait_line("ready", 90)
        base = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with pytest.raises(OSError):  # plain HTTP on the TLS port is not served (the connection is dropped)
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)
        import http.client

        form = urllib.parse.urlencode({"name": "chief", "password": "a long enough secret", "next": "/problems"})
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        connection.request("POST", "/login", body=form, headers={
            "Origin": base, "Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        assert answer.status == 303
        cookie = answer.getheader("Set-Cookie")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert answer.getheader("Strict-Transport-Security").startswith("max-age=")
        connection.close()
    finally:
        assert up.stop() == 0, "\n".join(up.lines)
