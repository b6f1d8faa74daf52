"""bot/event_store.py stores and publishes exactly what Rasa's own SQL store and broker do, in
one broker transaction per turn (run in Rasa's venv)."""

from __future__ import annotations

from tests.rasa_probe import ROOT, needs_rasa, run_probe

pytestmark = needs_rasa


def test_same_rows_as_rasa_with_one_broker_commit_per_turn() -> None:
    out = run_probe(
        ROOT / "tests" / "bot" / "rasa_event_store_probe.py", str(ROOT / "domain.yml"), timeout=300
    )
    rasa, ours = out["rasa"], out["ours"]
    # Every event once, in order, in both tables; the same rows as Rasa's store and broker.
    assert len(rasa["tracker_rows"]) == len(rasa["broker_rows"]) == out["events"] == 17
    assert ours["tracker_rows"] == rasa["tracker_rows"]
    assert ours["broker_rows"] == rasa["broker_rows"]
    assert [row[1]["event"] for row in ours["broker_rows"]][:2] == ["action", "session_started"]
    assert {row[0] for row in ours["broker_rows"]} == {"c1"}
    # Reading back: the latest session only, or all of them.
    assert ours["latest"] == rasa["latest"]
    assert [e["event"] for e in ours["latest"]][:2] == ["action", "session_started"]
    assert len(ours["latest"]) == 6 and ours["full_len"] == rasa["full_len"] == 17
    # Rasa commits once per event; ours once per save that has new events (4 of 6).
    assert rasa["broker_commits"] == 17
    assert ours["broker_commits"] == 4
    # Ours counts stored events only for trackers it did not read or save (the first turn's
    # new tracker, the stale copy), and writes each save's events in one INSERT.
    assert rasa["store_statements"].count("SELECT") > ours["store_statements"].count("SELECT")
    assert ours["store_statements"].count("INSERT") == 4
    assert ours["store_statements"].count("SELECT") == 5 + 2  # 5 reads, 2 counts
