"""report.html of a real run, rendered by headless Chromium (Debian's ``chromium``).

The shipped pg-async-partition-crash scenario runs for real; its report is rendered offline
(every network feature of Chromium off) to a screenshot, decoded with a tiny PNG reader, and
checked for the chart's own colours — acknowledged bars, lost writes in red, the shaded
partition — and, when the run recorded observations, the replication lag line. ``--dump-dom``
must show the chart's elements. Skips without chromium, fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import pytest

from rpochaos.observe.postgres import OBSERVATIONS
from rpochaos.report.html import FAULT_FILL, KEPT, LOST, REPLICA_COLOURS, write_html
from rpochaos.run import run
from tests.helpers import SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WINDOW = (1400, 1000)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    msg = "Chromium not installed (Debian: apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and a dependency is missing: {msg}", pytrace=False)
    pytest.skip(msg)


def _chrome(binary: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="rpochaos-chromium-") as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """8-bit RGB/RGBA, non-interlaced PNG -> (width, height, rows, bytes per pixel)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = bpp = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and ctype in (2, 6), (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows: list[bytes] = []
    i = 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif f == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def _rgb(hex_colour: str, opacity: float = 1.0) -> tuple[int, int, int]:
    """The colour as drawn over white with ``opacity``."""
    c = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    r, g, b = (round(255 - opacity * (255 - v)) for v in c)
    return r, g, b


def _near(counts: Counter[tuple[int, int, int]], rgb: tuple[int, int, int], tol: int = 3) -> int:
    return sum(
        n
        for px, n in counts.items()
        if all(abs(a - b) <= tol for a, b in zip(px, rgb, strict=True))
    )


def test_report_of_a_real_run_renders_in_headless_chromium(real_pg: None, tmp_path: Path) -> None:
    chromium = _chromium()
    res = run(SCENARIOS / "pg-async-partition-crash.yaml", out=tmp_path / "run")
    assert res.result["verdict"] == "FAIL" and res.result["writes"]["lost"] > 0
    report = write_html(res.run_dir)
    observed = (res.run_dir / OBSERVATIONS).exists()

    # the DOM as Chromium parsed it
    dom = _chrome(chromium, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode()
    for needle in (
        '<svg id="timeline"',
        'data-series="acks"',
        'data-series="lost"',
        'class="fault" data-kind="partition"',
        'class="outage"',
        'class="recovery-point"',
        'class="rpo-line"',
        'id="reproduce"',
    ):
        assert needle in html, needle
    if observed:
        assert 'data-series="lag-bytes-replica1"' in html
        assert 'data-series="stalled-replica1"' in html

    # the screenshot
    png = tmp_path / "report.png"
    shot = _chrome(
        chromium,
        f"--screenshot={png}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        report.as_uri(),
    )
    assert shot.returncode == 0 and png.exists(), shot.stderr.decode(errors="replace")[-2000:]
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == WINDOW
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        counts.update(zip(row[0::bpp], row[1::bpp], row[2::bpp], strict=True))
    white = counts[(255, 255, 255)]
    assert white < 0.97 * width * height, "the page is (nearly) blank"
    assert len(counts) > 100, f"only {len(counts)} colours: not a chart"
    assert _near(counts, _rgb(KEPT)) > 2000, "no acknowledged-write bars"
    assert _near(counts, _rgb(LOST)) > 2000, "no lost writes drawn in red"
    assert _near(counts, _rgb(FAULT_FILL["partition"], 0.22)) > 20_000, "no shaded partition"
    if observed:
        assert _near(counts, _rgb(REPLICA_COLOURS[0]), tol=12) > 200, "no replication lag line"
