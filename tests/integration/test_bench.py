"""bench/bench.py --smoke: every part of the benchmark (plain HTTP, HTTPS on
several loopback hosts with a CA made by openssl, the API-latency probe,
the queue filler) on a handful of URLs, with curl, harvestd and, when
installed, httpx. Times nothing; fails if a contender got a URL wrong or
the script breaks. Skipped (77) without nginx, which bench/run installs."""
import os
import shutil
import subprocess
import sys
import unittest

SRC = os.environ.get("HARVESTD_SRCDIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
HARVESTD = os.environ.get("HARVESTD") or os.path.join(SRC, "harvestd")
LIMIT = int(os.environ.get("HARVESTD_TEST_TIME_LIMIT", "300"))


class BenchSmokeTest(unittest.TestCase):
    def test_smoke(self):
        out = subprocess.run(
            [sys.executable, os.path.join(SRC, "bench", "bench.py"),
             "--smoke", "--harvestd", HARVESTD],
            capture_output=True, text=True, timeout=LIMIT)
        if out.returncode != 0:
            print(out.stdout[-4000:])
            print(out.stderr[-4000:])
        self.assertEqual(out.returncode, 0)
        self.assertIn("all runs correct: True", out.stdout)
        for title in ("## Plain HTTP", "## HTTPS", "## API latency",
                      "## Scraping",
                      "## A big queue"):
            self.assertIn(title, out.stdout)


if __name__ == "__main__":
    for tool in ("nginx", "curl", "openssl"):
        if shutil.which(tool) is None and not os.path.exists(
                "/usr/sbin/" + tool):
            print("%s not installed: bench smoke test skipped" % tool)
            sys.exit(77)
    unittest.main()
