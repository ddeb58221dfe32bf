"""Git repositories built in the test, synced through the bare mirror into the real ES."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.settings import GitRepoSource, settings_from_dict
from monitor.sources.git import Git, GitError, Mirror, check_url, redact_url
from monitor.sources.git.logparse import LogParser


def _cfg(repo, **kw) -> GitRepoSource:
    return GitRepoSource(name=kw.pop("name", "policy"), url=str(repo.path), **kw)


def _by_sha(docs):
    return {d["change"]["sha"]: d for d in docs if d["change"]["kind"] in ("commit", "merge")}


async def test_linear_history_merges_trailers_paths(repo, syncer):
    first = repo.commit("Add rules\n\nInitial policy for CHG0012345.\n\n"
                        "Change-Id: I0123456789abcdef\nReviewed-by: Bob <bob@example.com>\n"
                        "Refs: NET-42\n", {"policy/rules.yaml": "a"})
    second = repo.commit("Tune rule", {"policy/rules.yaml": "b", "README": "r"})
    repo.git("checkout", "-q", "-b", "feature")
    side = repo.commit("Side change", {"side.txt": "s"}, author=("Bob", "bob@example.com"))
    repo.git("checkout", "-q", "main")
    third = repo.commit("Main moves on", {"policy/other.yaml": "o"})
    repo.git("merge", "-q", "--no-ff", "feature", "-m", "Merge feature (NET-43)")
    merge = repo.head()

    stats = await syncer(_cfg(repo))
    assert stats.commits == 5 and stats.indexed == 5 and stats.errors == 0
    docs = _by_sha(await syncer.docs())
    assert set(docs) == {first, second, side, third, merge}

    c1 = docs[first]["change"]
    assert c1["kind"] == "commit" and c1["branch"] == "main" and c1["parents"] == []
    assert c1["author"] == {"name": "Alice", "email": "alice@example.com",
                            "time": c1["author"]["time"]}
    assert c1["author"]["time"].endswith("+01:00")
    assert c1["tickets"] == ["CHG0012345", "NET-42"]
    assert c1["change_id"] == ["I0123456789abcdef"]
    assert c1["reviewed_by"] == ["Bob <bob@example.com>"]
    assert {"key": "Refs", "value": "NET-42"} in c1["trailers"]
    assert c1["paths"] == ["policy/rules.yaml"] and c1["path_changes"] == ["A\tpolicy/rules.yaml"]
    assert docs[first]["_id"] == f"git:policy:commit:{first}"
    assert docs[first]["@timestamp"] == c1["committer"]["time"]
    assert sorted(docs[second]["change"]["path_changes"]) == ["A\tREADME",
                                                               "M\tpolicy/rules.yaml"]

    m = docs[merge]["change"]
    assert m["kind"] == "merge" and m["is_merge"] and m["parents"] == [third, side]
    assert m["paths"] == ["side.txt"]  # diff against the first parent
    assert m["tickets"] == ["NET-43"] and m["mainline"] is True
    assert docs[side]["change"]["mainline"] is False
    assert docs[third]["change"]["mainline"] is True
    assert docs[merge]["event"]["dataset"] == "git.merge"
    assert docs[side]["user"]["email"] == "bob@example.com"


async def test_incremental_run_adds_only_new_commits(repo, syncer):
    for i in range(3):
        repo.commit(f"c{i}")
    cfg = _cfg(repo)
    assert (await syncer(cfg)).commits == 3
    again = await syncer(cfg)
    assert again.commits == 0 and again.documents == 0
    new = [repo.commit("c3"), repo.commit("c4")]
    third = await syncer(cfg)
    assert third.commits == 2 and third.indexed == 2 and third.duplicates == 0
    assert set(new) <= set(_by_sha(await syncer.docs()))
    assert len(await syncer.docs()) == 5


async def test_since_limits_first_import(repo, syncer):
    repo.commit("old", files={"a": "1"})
    repo.git("commit", "-q", "--allow-empty", "-m", "new",
             env={"GIT_COMMITTER_DATE": "2030-01-01T00:00:00+00:00",
                  "GIT_AUTHOR_DATE": "2030-01-01T00:00:00+00:00"})
    stats = await syncer(_cfg(repo), since="2029-06-01")
    assert stats.commits == 1


async def test_force_push_is_a_rewrite_and_rescans_from_merge_base(repo, syncer, cache_dir):
    base = repo.commit("base")
    doomed = repo.commit("to be rewritten")
    cfg = _cfg(repo)
    await syncer(cfg)
    repo.git("reset", "-q", "--hard", base)
    replacement = repo.commit("replacement")
    stats = await syncer(cfg)
    assert stats.rewrites == 1 and stats.commits == 1
    rewrites = await syncer.docs(**{"change.kind": "history_rewrite"})
    assert len(rewrites) == 1
    r = rewrites[0]["change"]
    assert (r["old_sha"], r["new_sha"], r["merge_base"], r["branch"]) == \
        (doomed, replacement, base, "main")
    # the old tip stays reachable in the mirror (evidence of what was rewritten)
    archived = Mirror(cfg, cache_dir).git.run(["for-each-ref", "--format=%(objectname)",
                                               "refs/daemon/archive/"]).stdout.decode().split()
    assert archived == [doomed]
    assert replacement in _by_sha(await syncer.docs())
    # a further ordinary push is not a rewrite
    repo.commit("after")
    assert (await syncer(cfg)).rewrites == 0


async def test_tags_created_moved_and_deleted(repo, syncer):
    one = repo.commit("one")
    repo.git("tag", "-a", "v1.0", "-m", "release 1.0 CHG0000001",
             env={"GIT_COMMITTER_NAME": "Rel", "GIT_COMMITTER_EMAIL": "rel@example.com"})
    repo.git("tag", "light", one)
    cfg = _cfg(repo)
    stats = await syncer(cfg)
    assert stats.tags == 2
    tags = {d["change"]["tag"]: d["change"] for d in await syncer.docs(**{"change.kind": "tag"})}
    assert tags["v1.0"]["annotated"] is True and tags["v1.0"]["sha"] == one
    assert tags["v1.0"]["new_sha"] != one  # the tag object, not the commit
    assert tags["v1.0"]["tagger"]["email"] == "rel@example.com"
    assert tags["v1.0"]["tickets"] == ["CHG0000001"]
    assert tags["light"]["annotated"] is False and tags["light"]["sha"] == one

    two = repo.commit("two")
    repo.git("tag", "-f", "light", two)
    repo.git("tag", "-d", "v1.0")
    stats = await syncer(cfg)
    assert stats.rewrites == 2
    moved = await syncer.docs(**{"change.kind": "tag_moved"})
    deleted = await syncer.docs(**{"change.kind": "tag_deleted"})
    assert [(d["change"]["tag"], d["change"]["old_sha"], d["change"]["new_sha"])
            for d in moved] == [("light", one, two)]
    assert [(d["change"]["tag"], d["change"]["old_sha"]) for d in deleted] == [("v1.0", one)]
    assert (await syncer(cfg)).rewrites == 0  # reported once
    lights = sorted(d["change"]["sha"] for d in await syncer.docs(**{"change.kind": "tag",
                                                                     "change.tag": "light"}))
    assert lights == sorted([one, two])  # the new position is recorded as a tag too


def _keygen(tmp: Path, who: str) -> tuple[Path, str]:
    key = tmp / f"{who}_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(key)],
                   check=True, capture_output=True)
    return key, (tmp / f"{who}_key.pub").read_text().strip()


async def test_ssh_signatures_verified_and_signer_compared(repo, syncer, tmp_path):
    carol_key, carol_pub = _keygen(tmp_path, "carol")
    _dan_key, dan_pub = _keygen(tmp_path, "dan")
    eve_key, _ = _keygen(tmp_path, "eve")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'carol@example.com namespaces="git" {carol_pub}\n'
                       f'dan@example.com namespaces="git" {dan_pub}\n')
    carol = ("Carol", "carol@example.com")
    dan = ("Dan", "dan@example.com")
    good = repo.commit("signed by carol", author=carol, sign_key=carol_key)
    impostor = repo.commit("dan commits, carol's key signs", author=dan, sign_key=carol_key)
    unknown = repo.commit("eve's key is not allowed", author=dan, sign_key=eve_key)
    unsigned = repo.commit("unsigned", author=dan)

    for name, key, who in (("v-good", carol_key, carol), ("v-impostor", carol_key, dan),
                           ("v-eve", eve_key, carol)):
        repo.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "tag", "-s", name,
                 "-m", f"release {name}", env={"GIT_COMMITTER_NAME": who[0],
                                               "GIT_COMMITTER_EMAIL": who[1]})
    repo.git("tag", "-a", "v-plain", "-m", "unsigned release")

    cfg = _cfg(repo, allowed_signers_file=signers)
    await syncer(cfg)
    tags = {d["change"]["tag"]: d["change"]["signature"]
            for d in await syncer.docs(**{"change.kind": "tag"})}
    assert tags["v-good"]["status"] == "G" and tags["v-good"]["matches_committer"] is True
    assert tags["v-good"]["signer"] == "carol@example.com"
    assert tags["v-impostor"]["status"] == "G" and tags["v-impostor"]["matches_committer"] is False
    assert tags["v-eve"]["status"] == "U" and tags["v-eve"]["verified"] is False
    assert tags["v-plain"] == {"status": "N", "signed": False, "verified": False}
    docs = _by_sha(await syncer.docs())
    sig = {sha: docs[sha]["change"]["signature"] for sha in (good, impostor, unknown, unsigned)}
    assert sig[good]["status"] == "G" and sig[good]["signer"] == "carol@example.com"
    assert sig[good]["matches_committer"] is True and sig[good]["fingerprint"].startswith("SHA256:")
    assert sig[impostor]["status"] == "G" and sig[impostor]["signer"] == "carol@example.com"
    assert sig[impostor]["matches_committer"] is False  # git says G; we flag it
    assert sig[unknown]["status"] in ("U", "E") and sig[unknown]["verified"] is False
    assert sig[unsigned] == {"status": "N", "signed": False, "verified": False}
    # verdicts are cached by SHA, keyed by the allowed-signers content
    cache = syncer.cache_dir / "policy.signatures.json"
    assert good in cache.read_text() and unsigned not in cache.read_text()


async def test_branch_named_like_an_option_writes_no_file(repo, syncer, tmp_path):
    repo.commit("one")
    target = tmp_path / "pwned.txt"
    hostile = f"--output={target}"
    repo.git("update-ref", f"refs/heads/{hostile}", "HEAD")
    hostile_commit = repo.commit("on main only")
    repo.git("update-ref", f"refs/heads/{hostile}", hostile_commit)
    repo.commit("main moves")
    # the hostile name is effective: a naive `git log <name>` writes the file
    repo.git("log", "-1", hostile)
    assert target.exists()
    target.unlink()
    stats = await syncer(_cfg(repo, branches=["*"]))
    assert not target.exists()
    assert stats.commits == 3 and stats.errors == 0
    # a configured name that is an option is just a ref name too
    stats = await syncer(_cfg(repo, name="other", branches=[hostile, "--help"]))
    assert not target.exists()
    docs = await syncer.docs(**{"change.repo": "other"})
    assert {d["change"]["branch"] for d in docs} == {hostile}


async def test_hostile_messages_and_paths_do_not_break_parsing(repo, syncer):
    nasty = ("\x1eC\x00".replace("\x00", "") + "\x1f%H\x1e fake record\n\n"
             "--output=/tmp/x\n\x1b[31mred\x1b[0m \u202e RTL\n\nRefs: CHG0000777\n").encode()
    latin1 = "caf\xe9 non-utf8\n".encode("latin-1")
    files = {"\x1eC": "marker-named file", "weird name\twith tab": "t", "A": "status-like",
             "-rf": "dash"}
    a = repo.commit(nasty, files)
    b = repo.commit(latin1, {"\u00e9t\u00e9.txt": "x"})
    c = repo.commit("x" * 200_000)
    stats = await syncer(_cfg(repo))
    assert stats.commits == 3 and stats.dead_lettered == 0
    docs = _by_sha(await syncer.docs())
    assert sorted(docs[a]["change"]["paths"]) == sorted(files)
    assert docs[a]["change"]["tickets"] == ["CHG0000777"]
    assert docs[b]["change"]["subject"].endswith("non-utf8")  # decoded, never a crash
    assert docs[b]["change"]["paths"] == ["\u00e9t\u00e9.txt"]
    assert len(docs[c]["change"]["subject"]) == 4000


def test_parser_is_independent_of_chunk_boundaries(repo):
    repo.commit("one\n\nbody", {"a": "1", "b": "2"})
    repo.commit("two", {"\x1eC": "x"})
    repo.git("checkout", "-q", "-b", "x")
    repo.commit("three")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "x", "-m", "m")
    repo.commit("empty", {})
    git = Git(repo.path / ".git", protocols=("file",))
    head = git.resolve("refs/heads/main")
    raw = b"".join(git.stream(git.log_args([head])))
    whole = LogParser()
    expected = whole.feed(raw) + whole.close()
    assert len(expected) == 5
    for size in (1, 7, 64):
        parser = LogParser()
        got = []
        for i in range(0, len(raw), size):
            got += parser.feed(raw[i:i + size])
        assert got + parser.close() == expected


@pytest.mark.parametrize("url", [
    "ext::sh -c touch% /tmp/pwned", "-uhelper", "--upload-pack=x", "file:///etc",
    "http://example.com/r.git", "https://user:secret@example.com/r.git", "relative/path",
    "https://example.com/r .git", "ssh://git@host/r\n.git", "fd::17",
    "ssh://-oProxyCommand=touch%20x/r.git", "ssh://git@-oProxyCommand=x/r.git",
    "git@-oProxyCommand=x:r.git",
])
def test_url_allow_list_refuses(url):
    with pytest.raises(GitError):
        check_url(url)
    with pytest.raises(ConfigError):
        settings_from_dict({"sources": {"git": [{"name": "r", "url": url}]}})


@pytest.mark.parametrize("url,kind", [("https://example.com/o/r.git", "https"),
                                      ("ssh://git@example.com/o/r.git", "ssh"),
                                      ("git@example.com:o/r.git", "ssh"), ("/srv/git/r", "local")])
def test_url_allow_list_accepts(url, kind):
    assert check_url(url) == kind


def test_token_goes_through_environment_not_url_or_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_TOKEN_TEST", "s3cr3t")
    cfg = settings_from_dict({"sources": {"git": [{
        "name": "r", "url": "https://example.com/o/r.git", "token_env": "GIT_TOKEN_TEST"}]}}
    ).sources.git[0]
    mirror = Mirror(cfg, tmp_path)
    argv = " ".join(mirror.git.argv(["fetch", "origin"]))
    assert "s3cr3t" not in argv and "s3cr3t" not in repr(cfg)
    env = mirror.git._env
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    for key, value in {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
                       "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_ASKPASS": "",
                       "GIT_ALLOW_PROTOCOL": "https:ssh"}.items():
        assert env[key] == value
    assert "core.hooksPath=/dev/null" in argv and "protocol.allow=never" in argv
    assert redact_url("https://tok@example.com/x") == "https://***@example.com/x"


async def test_mirror_ignores_hooks_and_user_config(repo, syncer, tmp_path, monkeypatch):
    """A global config or hook that would run a command is never consulted."""
    marker = tmp_path / "hook-ran"
    evil = tmp_path / "evil.gitconfig"
    evil.write_text(f"[core]\n\tfsmonitor = touch {marker}\n"
                    f"[alias]\n\tlog = !touch {marker}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(evil))
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    repo.commit("one")
    stats = await syncer(_cfg(repo))
    assert stats.commits == 1 and not marker.exists()


async def test_crafted_commit_objects_do_not_crash(repo, syncer):
    """Objects git itself would not write, made with hash-object --literally: NUL bytes and
    markers in the message are parsed; a malformed header is refused by fsck at fetch time
    with a clear error (and the branch tip is not advanced)."""
    base = repo.commit("base")
    tree = repo.git("rev-parse", "HEAD^{tree}")

    def craft(author: str, message: str) -> str:
        raw = (f"tree {tree}\nparent {base}\nauthor {author} 1700000000 +0000\n"
               f"committer Eve <eve@example.com> 1700000000 +0000\n\n{message}").encode()
        return repo.git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", input=raw)

    sha = craft("\x1eC <evil@x>", "subject with NUL \x00 inside\n\nbody\x00\x1eC\x00more\n")
    repo.git("update-ref", "refs/heads/main", sha)
    cfg = _cfg(repo)
    stats = await syncer(cfg)
    assert stats.commits == 2 and stats.errors == 0
    doc = _by_sha(await syncer.docs())[sha]["change"]
    assert doc["subject"].startswith("subject with NUL") and doc["parents"] == [base]
    assert doc["author"]["name"] == "\x1eC"

    bad = craft("Mallory <\x00m@x>", "header with NUL\n")
    repo.git("update-ref", "refs/heads/main", bad)
    with pytest.raises(GitError, match="fsck"):
        await syncer(cfg)
    state = await syncer.state.get("git:policy")
    assert state is not None and state.value["branches"]["refs/heads/main"] == sha


async def test_prefetch_stops_its_thread_and_passes_errors():
    import threading

    from monitor.sources.git.pages import _prefetch

    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield [i]
            i += 1

    stream = _prefetch(endless, depth=2)
    assert await stream.__anext__() == [0]
    await stream.aclose()  # the consumer gives up (e.g. Elasticsearch down)
    assert not any(t.name == "git-produce" for t in threading.enumerate())
    assert len(produced) <= 5

    def failing():
        yield [1]
        raise GitError("git log failed (128): boom")

    got = []
    with pytest.raises(GitError, match="boom"):
        async for batch in _prefetch(failing):
            got.append(batch)
    assert got == [[1]]


def test_every_git_call_has_a_timeout(repo):
    repo.commit("one")
    git = Git(repo.path / ".git", protocols=("file",), timeout=0.5)
    # a call that cannot finish within the timeout however fast the machine is (a 0.001 s
    # timeout on `git log` was a race that a quick machine could win)
    with pytest.raises(GitError, match="timed out"):
        git.run(["-c", "alias.stall=!sleep 30", "stall"])
