"""Backfilling a change source from a date and starting one over (``monitor.sources.cursors``,
``ingest git --since``, ``monitor sources reset``), against the real state index."""
from __future__ import annotations

import json
import subprocess
import sys

from monitor.cli.main import main
from monitor.settings import settings_from_dict
from monitor.sources.cursors import cursor_keys, rewind, rewound
from monitor.store import StateStore

GITHUB = {"name": "gh", "repositories": ["acme/policy", "acme/infra"],
          "protected_branches": ["main"], "token": "t"}


def test_rewound_moves_times_back_never_forward_and_drops_positions():
    value = {"deployments_since": "2026-11-20T00:00:00Z", "pulls_since": "2026-01-01T00:00:00Z",
             "commits_since": {"main": "2026-11-25T10:00:00Z"}, "protection": {"main": {}},
             "branches": {"refs/heads/main": "a" * 40}, "last_history_id": {"app": 7}}
    out = rewound(value, "2026-06-01")
    assert out["deployments_since"] == "2026-06-01"
    assert out["pulls_since"] == "2026-01-01T00:00:00Z"  # already earlier: kept
    assert out["commits_since"] == {"main": "2026-06-01"}
    assert out["protection"] == {"main": {}}
    assert "branches" not in out and "last_history_id" not in out
    assert rewound(value, None) == {}


async def test_rewind_seeds_a_first_cursor_and_moves_an_existing_one(store):
    settings = settings_from_dict({"sources": {"github": [GITHUB]}})
    cfg = settings.sources.github[0]
    state = StateStore(store)
    keys = cursor_keys("github", cfg)
    assert keys == ["github:gh:acme/policy", "github:gh:acme/infra"]
    # first run not yet made: --since gives it a cursor at the date (not the lookback)
    assert await rewind(state, cfg, keys, "2025-01-01") == keys
    first = await state.get(keys[0])
    assert first is not None and first.value["pulls_since"] == "2025-01-01"
    assert first.value["commits_since"] == {"main": "2025-01-01"}
    # a later cursor moves back; an equal one is left alone (nothing changed)
    await state.put(keys[1], {"pulls_since": "2026-11-30T00:00:00Z"}, await state.get(keys[1]))
    assert await rewind(state, cfg, keys, "2025-01-01") == [keys[1]]
    # reset: empty cursors, the next run starts from the lookback
    assert await rewind(state, cfg, keys, None) == keys
    assert (await state.get(keys[0])).value == {}


def _config(tmp_path, es_url, prefix):
    path = tmp_path / "config.yaml"
    path.write_text(f"elasticsearch:\n  hosts: ['{es_url}']\n  index_prefix: {prefix}\n"
                    "sources:\n  github:\n    - name: gh\n      repositories: [acme/policy]\n"
                    "      token: not-used\n")
    return str(path)


async def test_sources_reset_asks_for_confirmation(store, es_url, tmp_path):
    config = _config(tmp_path, es_url, store.names.prefix)
    state = StateStore(store)
    await state.put("github:gh:acme/policy", {"pulls_since": "2026-11-30T00:00:00Z"}, None)
    base = [sys.executable, "-m", "monitor.cli.main", "-c", config, "sources"]
    refused = subprocess.run([*base, "reset", "gh"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert (await state.get("github:gh:acme/policy")).value["pulls_since"].startswith("2026-11-30")
    unknown = subprocess.run([*base, "reset", "nope", "--yes"], capture_output=True, text=True,
                             check=False)
    assert unknown.returncode == 2 and "no change source named 'nope'" in unknown.stderr
    done = subprocess.run([*base, "reset", "gh", "--since", "2026-02-01", "--yes", "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] == ["github:gh:acme/policy"]
    assert (await state.get("github:gh:acme/policy")).value["pulls_since"] == "2026-02-01"
    listed = subprocess.run([*base, "list", "--json"], capture_output=True, text=True, check=False)
    assert listed.returncode == 0
    assert json.loads(listed.stdout)[0]["cursors"]["github:gh:acme/policy"] == {
        "pulls_since": "2026-02-01"}
    assert main(["-c", config, "sources", "reset", "gh", "--since", "soon", "--yes"]) == 2
