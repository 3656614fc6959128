"""``feedsvc serve --workers N``: N processes accept on one port (issue #3 item 1)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp
import yaml

from tests.test_cli import run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_pids(port: int) -> set[int]:
    """PIDs holding a listening socket on ``port`` (from /proc, no extra tools)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                    inodes.add(parts[9])
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


async def test_workers_need_redis(tmp_path: Path) -> None:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(yaml.safe_dump({"topics": {"a": {"sources": [{"url": "http://127.0.0.1:9/"}]}}}))
    code, _, err = await run_cli("serve", "-c", str(cfg), "--workers", "2")
    assert code == 2
    assert "--workers 2 needs service.redis_url" in err


async def test_two_workers_share_the_port(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text(yaml.safe_dump({
        "service": {"listen": f"127.0.0.1:{port}", "redis_url": redis_url, "extract_workers": 1},
        "topics": {"a": {"sources": [{"url": "http://127.0.0.1:9/"}]}},
    }))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feedsvc", "serve", "--no-poll", "--workers", "2", "-c", str(cfg),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        pids: set[int] = set()
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                pids = listening_pids(port)
                if len(pids) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert len(pids) == 2, pids
            assert proc.pid in pids
            for _ in range(10):
                async with http.get(f"http://127.0.0.1:{port}/feeds/a.atom") as r:
                    assert r.status == 200
    finally:
        proc.terminate()
        await proc.wait()
