"""``monitor ingest git`` end to end: settings file → mirror → real Elasticsearch."""
from __future__ import annotations

import json

from monitor.cli.main import main


def _config(tmp_path, es_url, prefix, repos):
    lines = ["elasticsearch:", f"  hosts: ['{es_url}']", f"  index_prefix: {prefix}",
             "sources:", "  git:"]
    for name, url in repos:
        lines += [f"    - name: {name}", f"      url: '{url}'", "      branches: ['*']",
                  f"      mirror_dir: '{tmp_path / 'mirrors'}'"]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_ingest_git_json_summary_then_incremental(repo, store, es_url, tmp_path, capsys):
    for i in range(3):
        repo.commit(f"c{i} CHG000{i}123")
    repo.git("tag", "v1")
    config = _config(tmp_path, es_url, store.names.prefix, [("policy", repo.path)])
    assert main(["-c", config, "ingest", "git", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["ok"], r["commits"], r["tags"], r["indexed"]) for r in first] == \
        [("policy", True, 3, 1, 4)]
    repo.commit("c3")
    assert main(["-c", config, "ingest", "git", "--repo", "policy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("policy (git): 1 commits, 0 tags, 1 documents") and "1 indexed" in out


def test_ingest_git_reports_failed_source_and_continues(repo, store, es_url, tmp_path, capsys):
    repo.commit("one")
    config = _config(tmp_path, es_url, store.names.prefix,
                     [("gone", tmp_path / "missing"), ("policy", repo.path)])
    assert main(["-c", config, "ingest", "git", "--json"]) == 1
    results = {r["source"]: r for r in json.loads(capsys.readouterr().out)}
    assert results["gone"]["ok"] is False and "fetch failed" in results["gone"]["error"]
    assert results["policy"]["ok"] is True and results["policy"]["commits"] == 1
    assert main(["-c", config, "ingest", "git", "--repo", "nope"]) == 2
    assert main(["-c", config, "ingest", "git", "--since", "yesterday"]) == 2


def test_progress_bar_on_stderr_only_when_asked(capsys):
    from monitor.cli.progress import Progress

    quiet = Progress(True, "policy", "commits", minimum=10)  # stderr is not a terminal here
    quiet(50, 100)
    quiet.close()
    assert capsys.readouterr().err == ""
    bar = Progress(True, "policy", "commits", minimum=10, force=True)
    bar(5, 5)  # below the minimum: a small incremental run shows nothing
    assert capsys.readouterr().err == ""
    for done in range(0, 101, 5):
        bar(done, 100)
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and "100/100" in captured.err and "policy" in captured.err


def test_ingest_git_runs_every_change_source_not_only_git(store, es_url, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.delenv("GH_TOKEN_FOR_TEST", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(f"elasticsearch:\n  hosts: ['{es_url}']\n  index_prefix: {store.names.prefix}\n"
                    "sources:\n  github:\n    - name: gh\n      repositories: [acme/policy]\n"
                    "      token_env: GH_TOKEN_FOR_TEST\n")
    from monitor.store.setup import install_templates  # noqa: F401  (templates: the store fixture)

    assert main(["-c", str(path), "ingest", "git", "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    # the forge was attempted and its problem named (not "no git sources configured")
    assert [(r["source"], r["kind"], r["ok"]) for r in results] == [("gh", "github", False)]
    assert "GH_TOKEN_FOR_TEST is not set" in results[0]["error"]
