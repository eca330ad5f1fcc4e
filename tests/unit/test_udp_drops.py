"""Kernel UDP drop counters: /proc/net/udp{,6} lines parsed without sockets, and the shared Prometheus counter."""

from __future__ import annotations

import socket
from pathlib import Path

from prometheus_client import CollectorRegistry

from vigie.udp_drops import UdpDropCounters, parse_drops, read_drops, socket_inode, udp_drop_counters

HEADER = (
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref"
    " pointer drops             \n"
)
UDP = [
    HEADER,
    "  279: 0100007F:157A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 40121 2"
    " 0000000000000000 17        \n",
    "  815: 00000000:00A1 00000000:0000 07 00000000:00004400 00:00000000 00000000   109        0 40500 2"
    " 0000000000000000 0         \n",
]
UDP6 = [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr"
    " tm->when retrnsmt   uid  timeout inode ref pointer drops\n",
    "  500: 00000000000000000000000000000000:157A 00000000000000000000000000000000:0000 07 00000000:00000000"
    " 00:00000000 00000000     0        0 40777 2 0000000000000000 123456789012\n",
]


def test_parse_takes_the_drops_column_of_the_wanted_inodes_only() -> None:
    assert parse_drops(UDP, {40121}) == {40121: 17}
    assert parse_drops(UDP, {40121, 40500, 1}) == {40121: 17, 40500: 0}
    assert parse_drops(UDP6, {40777}) == {40777: 123456789012}
    assert parse_drops(UDP, set()) == {}


def test_parse_skips_the_header_and_lines_of_another_shape() -> None:
    odd = [
        "  1: 0100007F:157A 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 40121\n",  # no drops
        "  2: 0100007F:157A 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 40122 2 ff x\n",
        "\n",
        "garbage\n",
    ]
    assert parse_drops([HEADER, *odd], {40121, 40122}) == {}


def test_read_covers_both_files_and_tolerates_a_missing_one(tmp_path: Path) -> None:
    udp, udp6 = tmp_path / "udp", tmp_path / "udp6"
    udp.write_text("".join(UDP))
    udp6.write_text("".join(UDP6))
    assert read_drops({40121, 40777}, [str(udp), str(udp6)]) == {40121: 17, 40777: 123456789012}
    assert read_drops({40121}, [str(tmp_path / "absent"), str(udp)]) == {40121: 17}


def proc_line(inode: int, drops: int) -> str:
    return f"  7: 0100007F:157A 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 {inode} 2 ff {drops}\n"


def test_counter_never_goes_back_when_a_listener_moves_to_a_new_socket(tmp_path: Path) -> None:
    proc = tmp_path / "udp"
    registry = CollectorRegistry()
    drops = UdpDropCounters(registry, files=[str(proc)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as second:
        a, b = socket_inode(first), socket_inode(second)
        proc.write_text(HEADER + proc_line(a, 40))
        drops.watch("syslog-udp", first)
        assert registry.get_sample_value("vigie_udp_receive_drops_total", {"listener": "syslog-udp"}) == 40
        proc.write_text(HEADER + proc_line(a, 55))
        drops.forget("syslog-udp")  # the socket's last count, read before it closes
        proc.write_text(HEADER + proc_line(b, 3))
        drops.watch("syslog-udp", second)
        assert drops.totals() == {"syslog-udp": 58}
    assert registry.get_sample_value("vigie_udp_receive_drops_total", {"listener": "syslog-udp"}) == 58


def test_one_counter_set_per_registry_shared_by_every_udp_intake() -> None:
    registry = CollectorRegistry()
    assert udp_drop_counters(registry) is udp_drop_counters(registry)  # registered once, no duplicate
    assert udp_drop_counters(CollectorRegistry()) is not udp_drop_counters(registry)
    assert udp_drop_counters(None) is not udp_drop_counters(None)
