"""Callback throughput: the same gunicorn (2 workers) serving

(a) a bare Flask endpoint that parses the JSON and answers ``{"status": "ok"}``;
(b) the callback blueprint taking ``delivered`` receipts (an app without an outbox:
    the blueprint's own cost);
(c) ``permanent-failure`` receipts that deactivate users in SQLite through the example
    app's hook;
(d) for reference, (b) in an app whose outbox is a SQLite file: each receipt also looks
    up the row it is about (none matches here).

Load comes from wrk in a separate process. The four servers run side by side and wrk
visits them in turn, in a different order each round, so a busy neighbour on a shared
machine slows every app of a round alike; each round gives its own ratios to (a), and
the median and range of those are printed (target: b/a >= 0.85).

Requests/s swing with whatever else the machine runs. The CPU time the gunicorn workers
spend per request (from /proc) hardly does, so it is printed too: (a)'s CPU per request
over (b)'s is the throughput ratio the two would have on cores of their own.

    python bench/bench_callbacks.py            # 5 rounds of 4 s per app
    python bench/bench_callbacks.py --short    # 2 rounds of 1 s per app
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # callback_app, and the example app it borrows models from

from callback_app import TOKEN, create_database  # noqa: E402

USERS = 50_000
# (name, app mode, receipt status)
APPS = [
    ("a", "bare", "delivered"),
    ("b", "receipt", "delivered"),
    ("c", "deactivate", "permanent-failure"),
    ("d", "outbox", "delivered"),
]
LABELS = {
    "a": "bare Flask JSON endpoint",
    "b": "blueprint, delivered receipts",
    "c": "blueprint, deactivating users",
    "d": "blueprint + outbox lookup (SQLite)",
}
# wrk script: every request a new receipt id and, from FIRST on, a user not used before
# (7919 is prime to USERS, so the users do not repeat within USERS requests).
LUA = """
counter = FIRST
request = function()
  counter = counter + 1
  local body = string.format('{"id": "9cdd4b8a-2d6e-4a43-9f1d-%012d", "reference": null, ' ..
    '"to": "user%d@example.gov.uk", "status": "STATUS", "created_at": "2026-05-01T10:00:00.123456Z", ' ..
    '"completed_at": "2026-05-01T10:00:05.123456Z", "sent_at": "2026-05-01T10:00:01.123456Z", ' ..
    '"notification_type": "email", "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a", ' ..
    '"template_version": 1}', counter, (counter * 7919) % USERS)
  return wrk.format("POST", "/callbacks/notify",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer TOKEN"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 60) -> None:
    """Until a worker answers HTTP (the port is open before the workers have loaded the app)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # a 404 is an answer
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start on port {port}")


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of gunicorn ``pid`` and its workers."""
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@contextmanager
def gunicorn(mode: str, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(HERE),
         "--log-level", "warning", f"callback_app:create_app('{mode}')"],
        env=env,
    )
    try:
        wait_for(port)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_wrk(name: str, port: int, status: str, seconds: float, first: int, workdir: Path) -> tuple[float, int]:
    """Requests/s and requests made."""
    script = workdir / f"{name}.lua"
    lua = LUA.replace("STATUS", status).replace("USERS", str(USERS)).replace("TOKEN", TOKEN)
    script.write_text(lua.replace("FIRST", str(first)))
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/callbacks/notify"],
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{name}: some callbacks were not answered 2xx:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not rate or not total or not int(total.group(1)):
        raise SystemExit(f"{name}: no requests answered, or wrk's output unreadable:\n{out}")
    return float(rate.group(1)), int(total.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="2 rounds of 1 s: only checks the benchmark works")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None, help="per app per round")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.short else 5)
    seconds = args.seconds or (1 if args.short else 4)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    rates: dict[str, list[float]] = {name: [] for name, _, _ in APPS}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in APPS}  # µs per request
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        workdir = Path(tmp)
        url, outbox_url = f"sqlite:///{workdir / 'bench.db'}", f"sqlite:///{workdir / 'outbox.db'}"
        create_database(url, USERS, outbox_url)
        env = {
            **os.environ,
            "BENCH_DATABASE_URL": url,
            "BENCH_OUTBOX_URL": outbox_url,
            "BENCH_LOG": str(workdir / "receipts.log"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        started = {name: servers.enter_context(gunicorn(mode, env)) for name, mode, _ in APPS}
        for name, _, status in APPS:  # warm each worker up
            run_wrk(name, started[name][0], status, 2, 40_000, workdir)
        first = 0  # the next unused user for (c)
        for index in range(rounds):
            order = APPS[index % len(APPS) :] + APPS[: index % len(APPS)]
            for name, _, status in order:
                port, pid = started[name]
                before = cpu_seconds(pid)
                rate, total = run_wrk(name, port, status, seconds, first, workdir)
                cpu[name].append((cpu_seconds(pid) - before) / total * 1e6)
                rates[name].append(rate)
                if name == "c":
                    first += total
        if first >= 40_000:
            raise SystemExit("(c) ran out of fresh users: use fewer rounds or seconds")
    print(f"gunicorn 2 workers each, wrk 1 thread 8 connections, {rounds} rounds of {seconds} s per app, interleaved")
    for name, _, _ in APPS:
        spread = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"({name}) {LABELS[name] + ':':38s} median {statistics.median(rates[name]):7.1f} requests/s  ({spread}),"
              f" {statistics.median(cpu[name]):5.0f} µs CPU/request")
    for name, target in (("b", " (target >= 0.85)"), ("c", ""), ("d", "")):
        ratios = [x / a for x, a in zip(rates[name], rates["a"], strict=True)]
        by_cpu = [a / x for x, a in zip(cpu[name], cpu["a"], strict=True)]
        print(f"ratio {name}/a: requests/s median {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f}); CPU per request median "
              f"{statistics.median(by_cpu):.3f} (range {min(by_cpu):.3f}-{max(by_cpu):.3f}){target}")


if __name__ == "__main__":
    main()
