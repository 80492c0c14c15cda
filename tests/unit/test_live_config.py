"""LiveConfig: typed variables changed at run time (7.2's /config)."""

from oio.common.live_config import MAX_RUN_TIME, LiveConfig


def test_defaults_and_strings():
    live = LiveConfig({"x.enabled": True, "x.name": "a"})
    assert live.as_strings() == {MAX_RUN_TIME: "300000000",
                                 "x.enabled": "true", "x.name": "a"}


def test_update_applies_what_parses():
    live = LiveConfig({"x.enabled": False})
    assert live.update({MAX_RUN_TIME: "2000", "x.enabled": "yes",
                        "unknown": "1"}) == {
        MAX_RUN_TIME: True, "x.enabled": True, "unknown": False}
    assert live[MAX_RUN_TIME] == 2000 and live["x.enabled"] is True


def test_update_refuses_bad_types_and_ranges():
    live = LiveConfig({"x.enabled": False})
    assert live.update({MAX_RUN_TIME: "soon", "x.enabled": "maybe"}) == {
        MAX_RUN_TIME: False, "x.enabled": False}
    # 7.2's range: 1 ms to 1 hour.
    assert live.update({MAX_RUN_TIME: "999"}) == {MAX_RUN_TIME: False}
    assert live.update({MAX_RUN_TIME: str(3_600_000_001)}) == {
        MAX_RUN_TIME: False}
    assert live[MAX_RUN_TIME] == 300_000_000
