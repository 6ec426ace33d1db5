#!/usr/bin/env python3
"""The baseline a Python user would write: asyncio + httpx, a Semaphore
bounding concurrency, asyncio.wait_for per request, a ScrapeResult
dataclass for every URL, gather(return_exceptions=True), and every result
written to SQLite (in one transaction, like a careful user would).

usage: scrape_httpx.py URLFILE DB CONCURRENCY
"""
import asyncio
import dataclasses
import sqlite3
import sys
import time
from typing import Optional

import httpx


@dataclasses.dataclass
class ScrapeResult:
    url: str
    status: Optional[int]
    body: Optional[bytes]
    error: Optional[str]
    elapsed: float


async def fetch(client, sem, url, timeout):
    async with sem:
        t0 = time.perf_counter()
        try:
            r = await asyncio.wait_for(client.get(url), timeout)
            return ScrapeResult(url, r.status_code, r.content, None,
                                time.perf_counter() - t0)
        except Exception as e:  # every failure is a result, never a crash
            return ScrapeResult(url, None, None, repr(e),
                                time.perf_counter() - t0)


async def main(urls, db, concurrency):
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency,
                          max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        results = await asyncio.gather(
            *(fetch(client, sem, u, 30) for u in urls),
            return_exceptions=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS results (url TEXT, status "
                "INTEGER, body BLOB, error TEXT, elapsed REAL)")
    with con:
        con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?)",
                        [dataclasses.astuple(r) for r in results
                         if isinstance(r, ScrapeResult)])
    con.close()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        urls = [l.strip() for l in f if l.strip()]
    asyncio.run(main(urls, sys.argv[2], int(sys.argv[3])))
