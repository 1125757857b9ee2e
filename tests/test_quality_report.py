"""The HTML quality report renders offline: headless Chromium loads it and requests nothing."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import duckdb
import pytest

from expectations.check import check_batch

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> str:
    """The headless browser the rendering tests need: a required test dependency (.ci/run
    installs it; on Debian `apt-get install chromium`), so its absence fails, never skips."""
    assert CHROMIUM, "chromium is not installed: the offline-rendering tests need it (apt-get install chromium)"
    return CHROMIUM
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tiny_db, tmp_path_factory):
    """A report after two checked batches: the first clean, the second with an impossible reading."""
    from warehouse.land import land_simulation

    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "w.duckdb"
    shutil.copy(tiny_db, db)
    assert check_batch(db).passed
    land_simulation(db=db, append_days=1)
    con = duckdb.connect(str(db))
    con.execute("update raw.readings set value = 250 where sensor = 'temperature' and household_id = 'H0001' "
                "and reading_at = (select max(reading_at) from raw.readings)")
    con.close()
    result = check_batch(db, report_path=tmp / "quality.html")
    assert not result.passed
    return result.report_path


def _page_requests(html_path, tmp_path) -> tuple[list[str], bytes]:
    """URLs the page itself asked the network for (from Chromium's net log), and its screenshot."""
    netlog, png = tmp_path / "netlog.json", tmp_path / "shot.png"
    subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--log-net-log={netlog}",
                    f"--screenshot={png}", "--window-size=1280,2000", html_path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = [e["params"]["url"] for e in log["events"]
            if e["type"] == start_job and "file://" in e["params"].get("network_isolation_key", "")]
    return [u for u in urls if not u.startswith(("file:", "data:"))], png.read_bytes()


def test_report_is_self_contained(report):
    html = report.read_text()
    assert "<script" not in html and "<link" not in html and "url(" not in html and "@import" not in html
    assert not re.findall(r"https?://(?!www\.w3\.org/2000/svg)", html)  # only the SVG namespace, never fetched
    for text in ("FAILED", "within_physical_range:temperature", "Drift per sensor", "Trend over the last 2", "<svg"):
        assert text in html, text


def test_report_renders_in_headless_chromium_without_network_requests(report, tmp_path):
    requested, png = _page_requests(report, tmp_path)
    assert requested == []
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a full page, not a blank one
    # the detector itself: a page with a CDN stylesheet is caught
    bad = tmp_path / "cdn.html"
    bad.write_text('<html><head><link rel="stylesheet" href="https://cdn.example.invalid/x.css"></head></html>')
    (tmp_path / "bad").mkdir()
    requested, _ = _page_requests(bad, tmp_path / "bad")
    assert requested == ["https://cdn.example.invalid/x.css"]


def test_ci_stops_when_chromium_cannot_be_installed(tmp_path):
    """.ci/run on a machine without Chromium whose apt-get fails, or installs nothing: it stops
    before the tests (which would fail without it), saying why."""
    from warehouse.connection import REPO_ROOT

    bin_dir = tmp_path / "bin"          # a PATH with no chromium and no make
    bin_dir.mkdir()
    for tool in ("id", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "sudo").write_text('#!/bin/bash\nexec "$@"\n')
    apt = bin_dir / "apt-get"
    outcomes = []
    for script in ("echo 'E: Unable to locate package chromium' >&2; exit 100", "exit 0"):
        apt.write_text(f"#!/bin/bash\n{script}\n")
        for exe in (apt, bin_dir / "sudo"):
            exe.chmod(0o755)
        proc = subprocess.run(["/bin/bash", str(REPO_ROOT / ".ci" / "run")], env={"PATH": str(bin_dir)},
                              capture_output=True, text=True, timeout=60)
        assert "make" not in proc.stderr, proc.stderr         # never got to `make test`
        outcomes.append((proc.returncode, proc.stderr.strip().splitlines()[-1]))
    assert outcomes == [(100, "E: Unable to locate package chromium"),
                        (1, ".ci/run: chromium is still missing after apt-get install chromium")]
