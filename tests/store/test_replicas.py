"""Replica count of our templates: configured, or detected from the number of data nodes."""
from __future__ import annotations

from monitor.settings import ElasticsearchSettings
from monitor.store import open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates, replicas_for


async def test_single_node_gets_no_replica_and_an_explicit_value_wins(
        es_url: str, es_prefix: str) -> None:
    auto = open_store(ElasticsearchSettings(hosts=[es_url]), prefix=es_prefix)
    explicit = open_store(ElasticsearchSettings(hosts=[es_url], number_of_replicas=2),
                          prefix=es_prefix)
    try:
        health = (await auto.es.cluster.health()).body
        assert await replicas_for(auto) == (1 if health["number_of_data_nodes"] > 1 else 0)
        assert await replicas_for(explicit) == 2
        await install_templates(auto)
        body = (await auto.es.indices.get_index_template(name=f"{es_prefix}-events")).body
        settings = body["index_templates"][0]["index_template"]["template"]["settings"]
        assert str(settings["index"]["number_of_replicas"]) == str(await replicas_for(auto))
    finally:
        await drop_prefix(auto)
        await auto.close()
        await explicit.close()
