"""File import holds a bounded part of a line: a gzip of a few hundred KB that inflates to one
400 MB line must not cost its size in memory (it took 979 MB peak RSS), and the dead letter
states the line's real length."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

from monitor.simulate import SimConfig, generate
from monitor.sources.logfiles import CutLine, bounded_lines

ROOT = Path(__file__).resolve().parents[2]
BIG = 400_000_000


def _gzip_one_huge_line(path: Path, size: int, after: bytes) -> None:
    """Stream-compress: the test itself never holds the line either."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip container
    piece = b'<134>1 2026-12-01T00:00:00Z gw CheckPoint 1 - [action:"' + b"A" * (1 << 20)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(compressor.compress(piece[:min(left, len(piece))]))
            left -= len(piece)
        out.write(compressor.compress(b"\n" + after + b"\n"))
        out.write(compressor.flush())


def _peak_rss_mb(argv: list[str]) -> tuple[float, str]:
    """Peak RSS of ``argv`` alone (a wrapper process whose only child it is)."""
    wrapper = ("import resource, subprocess, sys\n"
               "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
               "sys.stdout.buffer.write(done.stdout)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
               "done.returncode, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True,
                          cwd=ROOT, timeout=600, check=False)
    peak, code = done.stderr.decode().split()[-2:]
    assert code in ("0", "1"), done.stderr[-2000:]
    return float(peak), done.stdout.decode()


def test_parse_400mb_line_gzip_stays_under_100mb(tmp_path: Path) -> None:
    normal = next(iter(generate(SimConfig(count=1, seed=3))))[1].encode()
    packed = tmp_path / "huge.log.gz"
    _gzip_one_huge_line(packed, BIG, normal)
    assert packed.stat().st_size < 2_000_000
    peak, out = _peak_rss_mb([sys.executable, "-m", "monitor.cli.main", "parse", str(packed)])
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 2, out[:500]
    assert records[0]["deadletter"]["reason"] == \
        f"record longer than 262144 bytes ({BIG})"  # the real length, newline not counted
    assert records[1]["event"]["action"]  # the next line is read and parsed
    assert peak < 100, f"peak RSS {peak:.0f} MB"


def test_bounded_lines_lengths_and_complete_only() -> None:
    data = b"a\r\n" + b"x" * 5000 + b"\r\n" + b"b\n" + b"y" * 3000
    lines = list(bounded_lines(io.BytesIO(data), limit=100))
    assert [(bytes(line[:3]), size) for line, size in lines] == [
        (b"a", 3), (b"xxx", 5002), (b"b", 2), (b"yyy", 3000)]
    assert type(lines[1][0]) is CutLine and lines[1][0].length == 5000
    assert len(lines[1][0]) == 101 and lines[3][0].length == 3000
    # a writer still appending: the unterminated tail (short or long) is not consumed
    assert [size for _, size in bounded_lines(io.BytesIO(data), limit=100,
                                              complete_only=True)] == [3, 5002, 2]
    assert [size for _, size in bounded_lines(io.BytesIO(b"ok\nshort"), limit=100,
                                              complete_only=True)] == [3]
