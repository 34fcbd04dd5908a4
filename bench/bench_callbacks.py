"""Callback throughput: the same gunicorn (2 workers) serving (a) a bare Flask endpoint
that parses JSON, (b) the callback blueprint taking ``delivered`` receipts and (c)
``permanent-failure`` receipts that deactivate users in SQLite. Load comes from wrk in
a separate process for a fixed time. Prints requests/s and the ratios b/a and c/a
(target: b/a >= 0.85).

    python bench/bench_callbacks.py            # 10 s per app
    python bench/bench_callbacks.py --short    # 2 s per app
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # callback_app, and the example app it borrows models from

from callback_app import TOKEN, create_database  # noqa: E402

USERS = 50_000
# wrk script: every request a new receipt id, spread over the users in the database.
LUA = """
counter = 0
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


def wait_for(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not start on port {port}")


def measure(mode: str, status: str, seconds: int, env: dict[str, str], workdir: Path) -> float:
    port = free_port()
    script = workdir / f"{mode}.lua"
    script.write_text(LUA.replace("STATUS", status).replace("USERS", str(USERS)).replace("TOKEN", TOKEN))
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--chdir", str(HERE),
         "--log-level", "warning", f"callback_app:create_app('{mode}')"],
        env=env,
    )
    try:
        wait_for(port)
        time.sleep(0.5)
        out = subprocess.run(
            ["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}/callbacks/notify"],
            capture_output=True, text=True, check=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    if "Non-2xx" in out:
        raise SystemExit(f"{mode}: some callbacks were not answered 2xx:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    return float(match.group(1))


def main() -> None:
    short = "--short" in sys.argv
    seconds = 2 if short else 10
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'bench.db'}"
        create_database(url, USERS)
        env = {
            **os.environ,
            "BENCH_DATABASE_URL": url,
            "BENCH_LOG": str(workdir / "receipts.log"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        bare = measure("bare", "delivered", seconds, env, workdir)
        receipt = measure("receipt", "delivered", seconds, env, workdir)
        deactivate = measure("deactivate", "permanent-failure", seconds, env, workdir)
    print(f"gunicorn 2 workers, wrk 1 thread 8 connections, {seconds} s each")
    print(f"(a) bare Flask JSON endpoint:        {bare:9.1f} requests/s")
    print(f"(b) blueprint, delivered receipts:   {receipt:9.1f} requests/s")
    print(f"(c) blueprint, deactivating users:   {deactivate:9.1f} requests/s")
    print(f"ratio b/a: {receipt / bare:.3f} (target >= 0.85)")
    print(f"ratio c/a: {deactivate / bare:.3f}")


if __name__ == "__main__":
    main()
