"""The engine keeps memory and disk bounded: idle entities are unloaded, purged histories give their space back."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.devhost_durable.conftest import Hub, run, serve

WEBHOOKS = "/runtime/webhooks/durabletask"


def test_idle_entities_are_unloaded_beyond_the_cache_and_read_back_from_the_store(tmp_path: Path) -> None:
    """With room for 5 entities, 40 counters leave at most 5 in memory; each still answers its own state."""
    hub = serve(tmp_path / "data")
    try:
        engine = hub.extension.engine
        engine.entity_cache = 5
        with hub.http() as http:
            for i in range(40):
                assert http.post(f"{WEBHOOKS}/entities/counter/c{i}?op=add", json=i + 1).status_code == 202
            for _ in range(100):
                if all(http.get(f"{WEBHOOKS}/entities/counter/c{i}").status_code == 200 for i in (0, 39)):
                    break
            assert len(engine.entities) <= 5
            assert [http.get(f"{WEBHOOKS}/entities/counter/c{i}").json() for i in range(40)] == list(range(1, 41))
            # an unloaded entity takes new operations from its stored state
            iid = run(hub.client().start_new("counter_user", None, "c3"))
            assert hub.wait(iid)["runtimeStatus"] == "Completed"
            assert http.get(f"{WEBHOOKS}/entities/counter/c3").json() == 4 + 5 + 2
    finally:
        hub.stop()


def test_purging_histories_shrinks_the_database_file(hub: Hub) -> None:
    """200 finished instances, then a purge of them all: the file and its WAL end smaller than before the purge."""
    client = hub.client()
    ids = [run(client.start_new("chain", None, ["A" * 2000, "B" * 2000, "C" * 2000])) for _ in range(200)]
    for iid in ids:
        hub.wait(iid)
    store = hub.extension.engine.store
    assert store is not None
    before = store.size_bytes()
    response = httpx.delete(f"{hub.base_url}{WEBHOOKS}/instances/?runtimeStatus=Completed")
    assert response.json()["instancesDeleted"] == 200
    after = store.size_bytes()
    assert after < before / 2, (before, after)
