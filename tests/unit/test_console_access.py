"""The console's gate: accounts, sessions, roles, CSRF and cross-site refusal, login rate limit, headers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.console_support import PASSWORD, csrf_of, login, make_console, origin, serve
from vigie.console.accounts import AccountError, AccountStore, check_password, hash_password
from vigie.console.sessions import LoginLimiter, SessionStore


def test_passwords_are_salted_scrypt_and_checked_in_constant_form() -> None:
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b and a.startswith("scrypt$")
    assert check_password("correct horse battery", a) and not check_password("correct horse batterx", a)
    assert not check_password("x", "garbage") and not check_password("x", "md5$1$2$3$00$00")


def test_account_file_is_private_and_refuses_bad_input(tmp_path: Path) -> None:
    store = AccountStore.under(tmp_path)
    store.add("alice", "operator", "long enough pw")
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    for bad in (lambda: store.add("alice", "viewer", "long enough pw"), lambda: store.add("bob", "root", "long enough pw"),
                lambda: store.add("bob", "viewer", "short"), lambda: store.add("../x", "viewer", "long enough pw")):
        with pytest.raises(AccountError):
            bad()
    assert store.authenticate("alice", "long enough pw").role == "operator"
    store.disable("alice")
    assert store.authenticate("alice", "long enough pw") is None
    assert AccountStore.under(tmp_path).get("alice").disabled  # another process sees the change


def test_login_limiter_blocks_per_address_and_per_name() -> None:
    lim = LoginLimiter(3, 60)
    for i in range(3):
        assert lim.blocked_for("10.0.0.1", "alice", 100 + i) == 0
        lim.failed("10.0.0.1", "alice", 100 + i)
    assert lim.blocked_for("10.0.0.1", "bob", 103) > 0  # same address, another name
    assert lim.blocked_for("10.0.0.2", "alice", 103) > 0  # another address, same name
    assert lim.blocked_for("10.0.0.2", "bob", 103) == 0
    assert lim.blocked_for("10.0.0.1", "alice", 161) == 0  # the window has passed


def test_sessions_survive_a_restart_but_only_their_digest_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    sid, session = SessionStore(path).create("alice", 1000.0, 60)
    assert sid not in path.read_text()
    again = SessionStore(path)
    assert again.get(sid, 1010.0) == session and again.get(sid, 1061.0) is None
    again.end(sid)
    assert SessionStore(path).get(sid, 1010.0) is None


def run(coro):
    return asyncio.run(coro)


def test_login_sets_a_strict_httponly_cookie_and_a_wrong_password_is_refused_and_audited(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            bad = await login(client, "operator", "wrong password!")
            assert bad.status == 401 and "vigie_session" not in bad.cookies
            ok = await login(client, "operator")
            assert ok.status == 303
            cookie = ok.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
            assert ok.headers["X-Frame-Options"] == "DENY"  # a redirect carries the security headers too
            page = await client.get("/problems")
            assert page.status == 200 and "operator" in await page.text()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")

    run(go())
    outcomes = [(a["action"], a["user"], a["outcome"]) for a in console.writer.audits]
    assert outcomes == [("login", "operator", "failed"), ("login", "operator", "ok")]


def test_pages_need_a_login_and_roles_are_enforced(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            anonymous = await client.get("/problems", allow_redirects=False)
            assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/login")
            assert (await login(client, "viewer")).status == 303
            assert (await client.get("/problems")).status == 200

    run(go())


def test_a_cross_site_post_and_a_post_without_the_csrf_token_are_refused(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "operator")
            token = await csrf_of(client)
            evil = await client.post("/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"},
                                     allow_redirects=False)
            assert evil.status == 403
            no_origin = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
            assert no_origin.status == 403
            no_token = await client.post("/logout", data={}, headers=origin(client), allow_redirects=False)
            assert no_token.status == 403
            assert (await client.get("/problems")).status == 200  # still logged in
            out = await client.post("/logout", data={"csrf": token}, headers=origin(client), allow_redirects=False)
            assert out.status == 303
            assert (await client.get("/problems", allow_redirects=False)).status == 303

    run(go())


def test_logins_are_rate_limited_with_retry_after(tmp_path: Path) -> None:
    console = make_console(tmp_path, limiter=LoginLimiter(3, 300))

    async def go():
        async with serve(console) as client:
            for _ in range(3):
                assert (await login(client, "viewer", "not the password")).status == 401
            limited = await login(client, "viewer", PASSWORD)  # even the right password, for a while
            assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0

    run(go())


def test_a_password_change_or_disable_ends_open_sessions(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "viewer")
            assert (await client.get("/problems")).status == 200
            await asyncio.sleep(0.01)
            AccountStore.under(tmp_path).passwd("viewer", "another long password")
            assert (await client.get("/problems", allow_redirects=False)).status == 303

    run(go())


def test_french_from_accept_language(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            page = await client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
            text = await page.text()
            assert 'lang="fr"' in text and "Mot de passe" in text
            page = await client.get("/login", headers={"Accept-Language": "de-DE,en;q=0.5"})
            assert "Password" in await page.text()

    run(go())


def test_the_login_form_only_redirects_inside_the_console(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
                r = await client.post("/login", data={"name": "viewer", "password": PASSWORD, "next": target},
                                      headers=origin(client), allow_redirects=False)
                assert r.headers["Location"] == "/"

    run(go())


def test_a_trusted_proxy_header_logs_in_a_known_account_only_from_trusted_addresses(tmp_path: Path) -> None:
    console = make_console(tmp_path, trusted_user_header="X-Remote-User", trusted_proxies=frozenset({"127.0.0.1"}))

    async def go():
        async with serve(console) as client:
            r = await client.get("/problems", headers={"X-Remote-User": "viewer"}, allow_redirects=False)
            assert r.status == 200
            r = await client.get("/problems", headers={"X-Remote-User": "stranger"}, allow_redirects=False)
            assert r.status == 303

    run(go())
    untrusted = make_console(tmp_path / "u", trusted_user_header="X-Remote-User", trusted_proxies=frozenset({"10.9.9.9"}))

    async def go2():
        async with serve(untrusted) as client:
            r = await client.get("/problems", headers={"X-Remote-User": "viewer"}, allow_redirects=False)
            assert r.status == 303

    run(go2())


def test_the_stylesheet_is_well_formed_at_every_page_block() -> None:
    """Each page's rules start at the top level: an unclosed @media block would swallow every page after it
    (found after merging four pages' blocks: the wall lost its large type)."""
    css = (Path(__file__).resolve().parents[2] / "vigie" / "console" / "static" / "console.css").read_text()
    depth = 0
    for number, line in enumerate(css.splitlines(), 1):
        if line.startswith("/* page:"):
            assert depth == 0, f"console.css:{number}: a page block starts inside an unclosed block"
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"console.css:{number}: a closing brace too many"
    assert depth == 0
