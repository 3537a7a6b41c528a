"""First-seen state across reports: stable while the drift lasts, cleared once fixed."""

from __future__ import annotations

from fabric_controller.drift.classifier import classify
from fabric_controller.drift.rib import TorView
from fabric_controller.drift.tracker import SinceTracker
from tests.fabric_controller.drift_fixtures import T0, held, ipam, node, path, tor_view

N1 = node("node1", "10.10.0.11", asn=65001)
N2 = node("node2", "10.10.0.12", asn=65002)
ROGUE = "10.244.7.0/26"


def rogue_tor(seen: float) -> TorView:
    return tor_view(path(ROGUE, "10.10.0.12", as_path=(65000, 65002), seen=seen))


def test_since_is_kept_while_the_entry_lasts() -> None:
    tracker = SinceTracker()
    view = ipam(nodes=[N1, N2])
    first = tracker.update(classify(view, [rogue_tor(T0 - 10)]))
    # The path is re-sent (new first-seen in the RIB); the drift did not stop.
    again = tracker.update(classify(view, [rogue_tor(T0 + 50)]))
    assert [e.since for e in first] == [T0 - 10]
    assert [e.since for e in again] == [T0 - 10]


def test_fixed_entries_are_forgotten() -> None:
    tracker = SinceTracker()
    view = ipam(nodes=[N1, N2])
    tracker.update(classify(view, [rogue_tor(T0 - 10)]))
    assert tracker.update(classify(view, [tor_view()])) == []
    assert len(tracker) == 0
    back = tracker.update(classify(view, [rogue_tor(T0 + 99)]))
    assert [e.since for e in back] == [T0 + 99]


def test_missing_start_survives_a_blind_spell() -> None:
    """While tor1's session is down nothing is judged missing, but the clock keeps running."""
    tracker = SinceTracker()
    view = ipam(nodes=[N1], blocks=[held("10.244.1.0/26", "node1", at=T0 - 100)])
    first = tracker.update(classify(view, [tor_view()]))
    blind = tracker.update(classify(view, [tor_view(covered={})]), blind=[("tor1", 4), ("tor1", 6)])
    later_view = tor_view(covered={4: T0 + 500, 6: T0 + 500})
    back = tracker.update(classify(view, [later_view]))
    assert [e.since for e in first] == [T0 - 100]
    assert blind == []
    assert [e.since for e in back] == [T0 - 100]


def test_blindness_on_one_family_forgets_the_other() -> None:
    tracker = SinceTracker()
    view = ipam(nodes=[N1], blocks=[held("10.244.1.0/26", "node1")])
    tracker.update(classify(view, [tor_view()]))
    tracker.update(classify(view, [tor_view(covered={})]), blind=[("tor1", 6)])
    assert len(tracker) == 0
