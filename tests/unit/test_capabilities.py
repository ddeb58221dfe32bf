"""Capability flags from the node's module list: the minimal build vs a full distribution."""
from monitor.store.client import Capabilities
from monitor.store.indices import IndexNames, month_of


def test_minimal_build_flags():
    caps = Capabilities("9.5.4", frozenset({"apm", "transport-netty4", "x-pack-core",
                                            "x-pack-security"}))
    flags = caps.as_dict()
    assert caps.minimal and flags["distribution"] == "minimal"
    assert not any(flags[c] for c in ("ilm", "data_streams", "painless", "eql", "esql", "ingest"))


def test_full_distribution_flags():
    caps = Capabilities("9.5.4", frozenset({"lang-painless", "ingest-common", "x-pack-ilm",
                                            "data-streams", "x-pack-eql", "x-pack-esql",
                                            "reindex"}))
    assert not caps.minimal
    assert all(caps.as_dict()[c] for c in ("ilm", "data_streams", "painless", "eql", "esql",
                                           "ingest", "delete_by_query"))


def test_dated_index_follows_event_time_not_clock():
    names = IndexNames("p")
    assert names.write("events", "2026-03-31T23:59:59Z") == "p-events-2026.03"
    # an offset timestamp is converted to UTC before choosing the month
    assert names.write("events", "2026-04-01T01:30:00+02:00") == "p-events-2026.03"
    assert names.write("state") == "p-state"
    assert month_of("garbage")  # falls back to now, never raises
    assert names.month_of_index("p-events-2025.12", "events") == (2025, 12)
    assert names.month_of_index("q-events-2025.12", "events") is None
