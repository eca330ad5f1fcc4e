"""Import of a synthetic 1,500-host / 3,500-service Nagios tree (target: <= 5 s), with `nagios4 -v` on the
same tree as the reference. Usage: .venv/bin/python bench/nagios_import.py [HOSTS] [SERVICES]"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigie.app.nagios_cli import render
from vigie.config import load
from vigie.nagios.reader import read_main
from vigie.nagios.resolve import resolve


def write_tree(root: Path, hosts: int, services: int) -> Path:
    (root / "objects").mkdir(parents=True)
    base = ["define timeperiod {\n timeperiod_name 24x7\n alias all\n monday 00:00-24:00\n}\n",
            "define command {\n command_name check_ping\n command_line $USER1$/check_ping -H $HOSTADDRESS$ -w $ARG1$ -c $ARG2$\n}\n",
            "define command {\n command_name check_tcp\n command_line $USER1$/check_tcp -H $HOSTADDRESS$ -p $ARG1$\n}\n",
            "define contact {\n contact_name admin\n email a@example.org\n host_notification_period 24x7\n"
            " service_notification_period 24x7\n host_notification_options d\n service_notification_options c\n"
            " host_notification_commands check_ping\n service_notification_commands check_ping\n}\n",
            "define contactgroup {\n contactgroup_name admins\n alias admins\n members admin\n}\n",
            "define host {\n name generic\n register 0\n max_check_attempts 3\n check_period 24x7\n"
            " notification_period 24x7\n contact_groups admins\n check_command check_ping!3000,80%!5000,100%\n}\n",
            "define service {\n name generic-svc\n register 0\n max_check_attempts 3\n normal_check_interval 5\n"
            " retry_check_interval 1\n check_period 24x7\n}\n"]
    sites = 30
    for s in range(sites):
        base.append(f"define hostgroup {{\n hostgroup_name site-{s}\n alias Site {s}\n}}\n")
    (root / "objects" / "base.cfg").write_text("".join(base))
    per_site = -(-hosts // sites)
    for s in range(sites):
        lines = []
        for i in range(s * per_site, min(hosts, (s + 1) * per_site)):
            parent = f"\n parents h{s * per_site}" if i != s * per_site else ""
            lines.append(f"define host {{\n host_name h{i}\n address 10.{i // 65536}.{i // 256 % 256}.{i % 256}\n"
                         f" use generic\n hostgroups site-{s}{parent}\n}}\n")
        (root / "objects" / f"site-{s}.cfg").write_text("".join(lines))
    svc = [f"define service {{\n use generic-svc\n hostgroup_name site-{s}\n service_description PING\n"
           f" check_command check_ping!100,20%!500,60%\n}}\n" for s in range(sites)]
    for i in range(services - hosts):
        svc.append(f"define service {{\n use generic-svc\n host_name h{i % hosts}\n service_description TCP{i // hosts}\n"
                   f" check_command check_tcp!{1000 + i}\n}}\n")
    # every TCP service depends on its host's PING (a same-host dependency on each site's group)
    svc += [f"define servicedependency {{\n hostgroup_name site-{s}\n service_description PING\n"
            f" dependent_service_description *,!PING\n notification_failure_criteria c,u\n}}\n" for s in range(sites)]
    (root / "objects" / "services.cfg").write_text("".join(svc))
    (root / "resource.cfg").write_text("$USER1$=/usr/lib/nagios/plugins\n")
    main = root / "nagios.cfg"
    main.write_text("cfg_dir=objects\nresource_file=resource.cfg\n")
    return main


def startup_work(config: Path) -> float:
    """What `vigie up` and its children do with the inventory before running: each child process loads the
    config; the correlator builds its topology and dependencies; the supervisor builds the runner's checks
    (host checks and services)."""
    from vigie.app.services import host_check_defs, service_defs
    from vigie.pipelines.correlate.dependencies import Dependencies
    from vigie.pipelines.correlate.topology import Inventory

    started = time.perf_counter()
    cfg = load(config)
    Inventory.from_config(cfg.inventory)
    Dependencies.from_config(cfg.inventory)
    host_check_defs(cfg.inventory, cfg.correlation.max_check_attempts) + service_defs(cfg.inventory)
    return time.perf_counter() - started


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    services = int(sys.argv[2]) if len(sys.argv) > 2 else 3500
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-nagios-"))
    try:
        root.chmod(0o755)
        cfg = write_tree(root, hosts, services)
        started = time.perf_counter()
        objs = resolve(read_main(cfg))
        files = render(objs, "hostgroup:site-", str(cfg))
        elapsed = time.perf_counter() - started
        print(f"vigie import: {len(objs.hosts)} hosts, {len(objs.services)} services, "
              f"{sum(len(t) for t in files.values()) // 1024} KiB written, {elapsed:.2f} s (target <= 5 s)")
        out = root / "out"
        for rel, text in files.items():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_text(text)
        (root / "empty.toml").write_text("")
        empty, full = startup_work(root / "empty.toml"), startup_work(out / "vigie.toml")
        print(f"start-up work of `vigie up` (config load, the correlator's inventory, the runner's checks): "
              f"{full:.2f} s with this inventory, {empty:.2f} s with an empty one (target: <= 2 s more)")
        nagios = shutil.which("nagios4") or "/usr/sbin/nagios4"
        if Path(nagios).exists():
            full = root / "full.cfg"
            base = [line for line in Path("/etc/nagios4/nagios.cfg").read_text().splitlines()
                    if not line.startswith(("cfg_", "resource_file", "lock_file"))]
            full.write_text("\n".join([*base, f"cfg_dir={root}/objects", f"resource_file={root}/resource.cfg"]) + "\n")
            started = time.perf_counter()
            done = subprocess.run([nagios, "-v", str(full)], capture_output=True, text=True)
            checked = ", ".join(dict.fromkeys(line.strip().removeprefix("Checked ").rstrip(".") for line in done.stdout.splitlines()
                                if line.strip().startswith(("Checked 1", "Checked 3")) and ("hosts" in line or "services" in line)))
            print(f"nagios4 -v (reference): {time.perf_counter() - started:.2f} s, exit {done.returncode} ({checked})")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
