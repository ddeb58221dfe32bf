#!/usr/bin/env python3
"""Git ingestion throughput against baselines measured in the same run.

1. A repository of ``--commits`` commits (default 100k: a linear main line, a merged side
   commit every 50 commits, a tag every 1,000, ~250 files) is generated once with
   ``git fast-import`` in a cache folder (``$MONITOR_BENCH_CACHE`` or ``~/.cache/monitor-bench``),
   never inside the project.
2. Parse: commits per second turned into ``changes`` documents (mirror read, first-parent walk,
   ``git log -z --name-status`` parse, signature pass, ``commit_document``; no Elasticsearch)
   next to a raw ``git log`` of the same history with the same format, read and discarded.
   Target ratio >= 0.5.
3. End to end: a ``GitRepository`` driven page by page into Elasticsearch (fresh prefix) in commits per second, next to a
   raw ``_bulk`` of the same documents (NDJSON built before the clock starts, 5,000 per request,
   2 in flight).

    python bench/git.py [--commits 100000] [--url http://127.0.0.1:9200] [--rounds 3] [--no-es]

A benchmark, not a test: it prints numbers and ratios and never fails on a timing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.daemon.forge_runs import ingest_changes
from monitor.normalize import changes
from monitor.settings import ElasticsearchSettings, GitRepoSource
from monitor.sources.git import PAGE_SIZE, Git, GitRepository, Mirror, SignatureCache
from monitor.sources.git.pages import read_pages
from monitor.sources.git.plan import Pin, Position, plan_branches
from monitor.store import BulkWriter, StateStore, open_store
from monitor.store.search import drop_prefix
from monitor.store.setup import install_templates

_ENV = {"PATH": os.environ["PATH"], "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull}


def generate(path: Path, commits: int) -> None:
    """Write a fast-import stream for ``commits`` commits and import it into a bare repo."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", str(tmp)], check=True, env=_ENV)
    proc = subprocess.Popen(["git", "--git-dir", str(tmp), "fast-import", "--quiet"],
                            stdin=subprocess.PIPE, env=_ENV)
    assert proc.stdin is not None
    out = proc.stdin
    start = 1_735_689_600  # 2025-01-01
    step = max(1, (60 * 60 * 24 * 690) // commits)
    mark = 0
    main_mark = 0
    people = [("Alice", "alice@example.com"), ("Bob", "bob@example.com"),
              ("Carol", "carol@example.com"), ("Dan", "dan@example.com")]
    made = 0

    def blob(data: bytes) -> bytes:
        return b"data %d\n%s\n" % (len(data), data)

    while made < commits:
        i = made
        ts = start + i * step
        name, email = people[i % 4]
        side = i % 50 == 49 and main_mark and made + 1 < commits
        if side:
            mark += 1
            side_mark = mark
            out.write(b"commit refs/heads/side\nmark :%d\n" % side_mark)
            out.write(b"author %s <%s> %d +0000\ncommitter %s <%s> %d +0000\n"
                      % (name.encode(), email.encode(), ts, name.encode(), email.encode(), ts))
            out.write(blob(b"Side change %d\n\nRefs: NET-%d\n" % (i, i)))
            out.write(b"from :%d\nM 644 inline side/s%d.txt\n" % (main_mark, i % 250))
            out.write(blob(b"side %d" % i))
            made += 1
            if made >= commits:
                break
        mark += 1
        out.write(b"commit refs/heads/main\nmark :%d\n" % mark)
        out.write(b"author %s <%s> %d +0000\ncommitter %s <%s> %d +0000\n"
                  % (name.encode(), email.encode(), ts, name.encode(), email.encode(), ts + 30))
        if side:
            out.write(blob(b"Merge side %d\n" % i))
            out.write(b"from :%d\nmerge :%d\n" % (main_mark, side_mark))
        else:
            msg = b"Change %d to policy CHG%07d\n\nReason: bench.\n\nChange-Id: I%040x\n" % (i, i, i)
            out.write(blob(msg))
            if main_mark:
                out.write(b"from :%d\n" % main_mark)
            out.write(b"M 644 inline policy/p%d.yaml\n" % (i % 250))
            out.write(blob(b"rule %d" % i))
            if i % 3 == 0:
                out.write(b"M 644 inline docs/d%d.md\n" % (i % 40))
                out.write(blob(b"doc %d" % i))
        main_mark = mark
        made += 1
        if made % 1000 == 0:
            out.write(b"tag v%d\nfrom :%d\ntagger Rel <rel@example.com> %d +0000\n"
                      % (made, main_mark, ts + 60))
            out.write(blob(b"release %d" % made))
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def raw_git_log(git: Git, head: str) -> tuple[float, int]:
    argv = git.argv(git.log_args([head]))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=git._env)
    assert proc.stdout is not None
    total = 0
    while data := proc.stdout.read1(1 << 20):
        total += len(data)
    proc.wait()
    return time.perf_counter() - start, total


def parse_to_docs(git: Git, cfg: GitRepoSource, cache_dir: Path) -> tuple[float, int]:
    start = time.perf_counter()
    heads = git.heads()
    plans = plan_branches(git, ["refs/heads/main"], {}, None, count=False)
    assert heads
    repo = changes.RepoInfo(cfg.name, cfg.url)
    cache = SignatureCache(cache_dir / "sig.json", None)
    n = 0
    first = Position.start([Pin(p.ref, p.new, tuple(p.exclude)) for p in plans
                            if p.include not in p.exclude])
    assert first is not None
    for page in read_pages(git, cache, first, PAGE_SIZE):
        for ref, commit, sig, mainline in page.commits:
            changes.commit_document(repo, ref, commit, sig, mainline=mainline)
            n += 1
    return time.perf_counter() - start, n


async def end_to_end(url: str, cfg: GitRepoSource, cache_dir: Path) -> tuple[float, float, int]:
    prefix = f"bench-git-{uuid.uuid4().hex[:8]}"
    raw_prefix = prefix + "-raw"
    settings = ElasticsearchSettings(hosts=[url])
    store = open_store(settings, prefix=prefix)
    raw_store = open_store(settings, prefix=raw_prefix)
    await install_templates(store)
    await install_templates(raw_store)
    try:
        # the mirror clone (with fsck) is a one-off cost of a first import: done before the clock
        mirror = Mirror(cfg, cache_dir)
        t = time.perf_counter()
        await asyncio.to_thread(mirror.ensure)
        await asyncio.to_thread(mirror.fetch)
        print(f"mirror clone for the end-to-end run: {time.perf_counter() - t:.1f}s (not timed)")
        start = time.perf_counter()
        source = GitRepository(cfg, cache_dir)
        try:
            stats = await ingest_changes([source], "git", cfg.name, BulkWriter(store),
                                         StateStore(store), max_rounds=None)
        finally:
            await source.close()
        ours = time.perf_counter() - start
        # the same documents, serialized before the clock starts, through raw _bulk
        git = Mirror(cfg, cache_dir).git
        head = git.resolve("refs/heads/main")
        assert head
        repo = changes.RepoInfo(cfg.name, cfg.url)
        mainline = git.first_parent(head)
        bodies, part, count = [], [], 0
        for commit in git.commits([head]):
            doc = changes.commit_document(repo, "refs/heads/main", commit, None,
                                          mainline=commit.sha in mainline)
            index = raw_store.names.write("changes", doc.source["@timestamp"])
            part.append(orjson.dumps({"create": {"_index": index, "_id": doc.id}}))
            part.append(orjson.dumps(doc.source))
            count += 1
            if len(part) >= 10_000:
                bodies.append(b"\n".join(part) + b"\n")
                part = []
        if part:
            bodies.append(b"\n".join(part) + b"\n")
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            queue = list(bodies)
            start = time.perf_counter()

            async def worker() -> None:
                while queue:
                    body = queue.pop(0)
                    r = await client.post("/_bulk", content=body, params={"filter_path": "errors"},
                                          headers={"content-type": "application/x-ndjson"})
                    r.raise_for_status()
                    assert r.json()["errors"] is False

            await asyncio.gather(worker(), worker())
            raw = time.perf_counter() - start
        assert stats.commits == count, (stats, count)
        return ours, raw, count
    finally:
        await drop_prefix(store)
        await store.close()
        await raw_store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("MONITOR_TEST_ES_URL",
                                                        "http://127.0.0.1:9200"))
    parser.add_argument("--no-es", action="store_true", help="skip the end-to-end part")
    parser.add_argument("--no-parse", action="store_true", help="skip the parse rounds")
    args = parser.parse_args()
    cache = Path(os.environ.get("MONITOR_BENCH_CACHE", Path.home() / ".cache" / "monitor-bench"))
    source = cache / f"git-{args.commits}.git"
    if not (source / "HEAD").exists():
        t = time.perf_counter()
        print(f"generating {args.commits:,} commits in {source} ...", flush=True)
        cache.mkdir(parents=True, exist_ok=True)
        generate(source, args.commits)
        print(f"  generated in {time.perf_counter() - t:.1f}s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-git-"))
    try:
        cfg = GitRepoSource(name="bench", url=str(source), branches=["main"])
        mirror = Mirror(cfg, work)
        t = time.perf_counter()
        mirror.ensure()
        mirror.fetch()
        print(f"mirror fetch: {time.perf_counter() - t:.1f}s")
        git = mirror.git
        head = git.resolve("refs/heads/main")
        assert head
        total = git.count([head])
        raw_rates, our_rates = [], []
        for round_ in range(0 if args.no_parse else args.rounds):
            raw_s, size = raw_git_log(git, head)
            ours_s, n = parse_to_docs(git, cfg, work)
            assert n == total, (n, total)
            raw_rates.append(total / raw_s)
            our_rates.append(n / ours_s)
            print(f"round {round_ + 1}: raw git log {raw_rates[-1]:,.0f} commits/s "
                  f"({size / 1e6:.0f} MB), to documents {our_rates[-1]:,.0f} commits/s",
                  flush=True)
        print(f"commits: {total:,}")
        if raw_rates:
            raw, ours = statistics.median(raw_rates), statistics.median(our_rates)
            print(f"raw git log (same format, -z --name-status):  {raw:,.0f} commits/s")
            print(f"parse + change documents (no ES):              {ours:,.0f} commits/s")
            print(f"ratio documents/raw: {ours / raw:.2f}  (target >= 0.50; median of "
                  f"{len(raw_rates)}, best round {max(o / r for o, r in zip(our_rates, raw_rates, strict=True)):.2f})")
        if not args.no_es:
            e2e_ours, e2e_raw, count = asyncio.run(end_to_end(args.url, cfg, work / "e2e"))
            print(f"end to end GitRepository into ES (mirror ready): {count / e2e_ours:,.0f} commits/s "
                  f"({e2e_ours:.1f}s)")
            print(f"raw _bulk of the same documents (2 in flight): {count / e2e_raw:,.0f} docs/s "
                  f"({e2e_raw:.1f}s)")
            print(f"ratio end-to-end/raw _bulk: {e2e_raw / e2e_ours:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
