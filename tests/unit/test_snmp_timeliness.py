"""RFC 3414 3.2 step 7b for traps (the sender is authoritative), on the pure timeline with a test clock."""

from __future__ import annotations

from vigie.producers.snmp.timeliness import MAX_BOOTS, EngineTimeline

ENGINE = bytes.fromhex("8000000001020304")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_authentic_message_sets_the_notion_and_later_ones_move_it_forward() -> None:
    clock = Clock()
    timeline = EngineTimeline(clock)
    assert timeline.notion(ENGINE) is None
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.notion(ENGINE) == (5, 1000)
    clock.now += 30
    assert timeline.notion(ENGINE) == (5, 1030)  # the notion of engineTime advances with the local clock
    assert timeline.check(ENGINE, 5, 1031) is None
    assert timeline.notion(ENGINE) == (5, 1031)
    assert timeline.check(ENGINE, 6, 2) is None  # a reboot
    assert timeline.notion(ENGINE) == (6, 2)


def test_lower_boots_is_refused_whatever_the_time() -> None:
    timeline = EngineTimeline(Clock())
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.check(ENGINE, 4, 999_999) == "engine_boots_behind"
    assert timeline.notion(ENGINE) == (5, 1000)  # a refused older message does not move the notion


def test_same_boots_more_than_150_s_behind_is_refused_150_is_not() -> None:
    clock = Clock()
    timeline = EngineTimeline(clock)
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.check(ENGINE, 5, 850) is None
    assert timeline.check(ENGINE, 5, 849) == "engine_time_behind"
    clock.now += 60  # notion of time: 1060
    assert timeline.check(ENGINE, 5, 910) is None
    assert timeline.check(ENGINE, 5, 909) == "engine_time_behind"


def test_a_copy_inside_the_window_is_accepted_a_replay_after_the_window_or_a_reboot_is_not() -> None:
    clock = Clock()
    timeline = EngineTimeline(clock)
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.check(ENGINE, 5, 1000) is None  # RFC 3414: the same values inside the window pass
    clock.now += 150.5
    assert timeline.check(ENGINE, 5, 1000) == "engine_time_behind"
    timeline = EngineTimeline(clock)
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.check(ENGINE, 6, 1) is None
    assert timeline.check(ENGINE, 5, 1000) == "engine_boots_behind"


def test_boots_at_its_maximum_latches_the_engine() -> None:
    timeline = EngineTimeline(Clock())
    assert timeline.check(ENGINE, 5, 1000) is None
    assert timeline.check(ENGINE, MAX_BOOTS, 1) == "engine_boots_max"
    assert timeline.check(ENGINE, MAX_BOOTS, 2) == "engine_boots_max"
    assert timeline.check(ENGINE, 7, 1) == "engine_boots_max"


def test_engines_are_independent_and_bounded() -> None:
    timeline = EngineTimeline(Clock(), max_engines=3)
    other = bytes.fromhex("80000000010203ff")
    assert timeline.check(ENGINE, 9, 10) is None
    assert timeline.check(other, 1, 10) is None
    assert timeline.check(ENGINE, 8, 10) == "engine_boots_behind"
    for i in range(10):
        timeline.check(bytes([i]) * 5, 1, 1)
    assert len(timeline._engines) == 3
