"""The Users page: admins alone; add, role, disable/enable, password reset with `vigie user`'s rules, all audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.console_support import PASSWORD, csrf_of, login, make_console, origin, serve
from vigie.console.accounts import AccountStore, check_password


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_only_admins_reach_users(tmp_path: Path, role: str) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, role)
            assert (await client.get("/users")).status == 403
            token = await csrf_of(client, "/problems")
            for path, data in (("/users", {"name": "mallory", "role": "admin", "password": "x" * 12}),
                               ("/users/viewer/role", {"role": "admin"}), ("/users/admin/disable", {}),
                               ("/users/admin/password", {"password": "y" * 12})):
                assert (await client.post(path, data={"csrf": token, **data}, headers=origin(client))).status == 403
            assert 'href="/users"' not in await (await client.get("/problems")).text()

    run(go())
    store = AccountStore.under(tmp_path)
    assert store.get("mallory") is None and not store.get("admin").disabled and store.get("viewer").role == "viewer"


def test_an_admin_manages_accounts_with_the_clis_rules_and_every_change_is_audited(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as client:
            await login(client, "admin")
            page = await client.get("/users")
            assert page.status == 200 and 'data-user="auditor"' in await page.text()
            token = await csrf_of(client, "/users")

            async def post(path: str, **data: str):
                response = await client.post(path, data={"csrf": token, **data}, headers=origin(client))
                return response.status, await response.text()

            status, text = await post("/users", name="carol", role="operator", password="carol's long pw")
            assert status == 200 and 'data-user="carol"' in text
            status, text = await post("/users", name="dave", role="operator", password="short")
            assert status == 400 and "a password has at least 10 characters" in text and 'value="dave"' in text
            assert (await post("/users", name="carol", role="viewer", password="x" * 12))[0] == 400
            assert (await post("/users", name="eve", role="root", password="x" * 12))[0] == 400
            assert (await post("/users/carol/role", role="auditor"))[0] == 200
            assert (await post("/users/carol/disable"))[0] == 200
            assert (await post("/users/carol/password", password="a new long pw"))[0] == 200
            assert (await post("/users/nobody/disable"))[0] == 400
            status, text = await post("/users/admin/disable")
            assert status == 400 and "the account you are logged in with" in text
            assert (await post("/users/admin/role", role="viewer"))[0] == 400
            assert (await post("/users/carol/enable"))[0] == 200

    run(go())
    carol = AccountStore.under(tmp_path).get("carol")
    assert carol.role == "auditor" and not carol.disabled and check_password("a new long pw", carol.password)
    admin = AccountStore.under(tmp_path).get("admin")
    assert admin.role == "admin" and not admin.disabled and check_password(PASSWORD, admin.password)
    trail = [(a["action"], a["target"], a["outcome"], a["user"]) for a in console.writer.audits if a["action"] != "login"]
    assert trail == [
        ("user add", "carol", "ok", "admin"), ("user add", "dave", "refused", "admin"),
        ("user add", "carol", "refused", "admin"), ("user add", "eve", "refused", "admin"),
        ("user role", "carol", "ok", "admin"), ("user disable", "carol", "ok", "admin"),
        ("user passwd", "carol", "ok", "admin"), ("user disable", "nobody", "refused", "admin"),
        ("user disable", "admin", "refused", "admin"), ("user role", "admin", "refused", "admin"),
        ("user enable", "carol", "ok", "admin")]
    assert not any(secret in str(console.writer.audits) for secret in ("carol's long pw", "a new long pw", "short"))


def test_a_disabled_user_is_logged_out_at_once(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go():
        async with serve(console) as admin_client, serve(console) as viewer_client:
            await login(viewer_client, "viewer")
            assert (await viewer_client.get("/problems", allow_redirects=False)).status == 200
            await login(admin_client, "admin")
            token = await csrf_of(admin_client, "/users")
            await admin_client.post("/users/viewer/disable", data={"csrf": token}, headers=origin(admin_client))
            assert (await viewer_client.get("/problems", allow_redirects=False)).status == 303

    run(go())
