"""systemd integration: the unit passes `systemd-analyze verify` and rates
2.0 or lower on `systemd-analyze security` (skipped where systemd-analyze
is missing), and the daemon speaks the sd_notify protocol."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import harness


class NotifyTest(harness.TestCase):
    """harvestd against a fake NOTIFY_SOCKET, as systemd would run it."""

    def setUp(self):
        super().setUp()
        ldd = subprocess.run(["ldd", harness.HARVESTD], capture_output=True,
                             text=True).stdout
        if "libsystemd" not in ldd:
            self.skipTest("built without libsystemd")
        self.path = os.path.join(self.workdir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.addCleanup(self.sock.close)
        self.messages = []

    def wait_message(self, pred, timeout=10):
        deadline = time.monotonic() + timeout * harness.SLOW
        while time.monotonic() < deadline:
            for m in self.messages:
                if pred(m):
                    return m
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        self.fail("no such notification in %r" % self.messages)

    def test_ready_status_watchdog_stopping(self):
        d = self.daemon(env={"NOTIFY_SOCKET": self.path,
                             "WATCHDOG_USEC": "2000000"})
        self.wait_message(lambda m: "READY=1" in m.split("\n"))
        st = self.wait_message(lambda m: m.startswith("STATUS="))
        self.assertIn("in flight", st)
        self.wait_message(lambda m: "WATCHDOG=1" in m.split("\n"))
        d.send(signal.SIGTERM)
        self.wait_message(lambda m: "STOPPING=1" in m.split("\n"))
        self.assertEqual(d.proc.wait(timeout=20), 0)


class SystemdTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is not installed")
        # The unit as `make install` writes it, pointing at this build.
        src = os.path.join(harness.SRCDIR, "systemd", "harvestd.service.in")
        with open(src) as f:
            text = f.read().replace(
                "@sbindir@", os.path.dirname(os.path.abspath(
                    harness.HARVESTD)))
        self.unit = os.path.join(self.workdir, "harvestd.service")
        with open(self.unit, "w") as f:
            f.write(text)

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_verify(self):
        out = self.analyze("verify", "--man=no", self.unit)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr.strip(), "")

    def test_security_exposure(self):
        out = self.analyze("security", "--offline=yes", "--threshold=20",
                           self.unit)
        self.assertEqual(out.returncode, 0, out.stderr)
        m = re.search(r"Overall exposure level for harvestd.service: "
                      r"([0-9.]+)", out.stdout)
        self.assertIsNotNone(m, out.stdout)
        print("systemd-analyze security: exposure %s" % m.group(1))
        self.assertLessEqual(float(m.group(1)), 2.0, out.stdout)

    def test_sysusers_file(self):
        path = os.path.join(harness.SRCDIR, "systemd", "harvestd.sysusers")
        with open(path) as f:
            lines = [l for l in f if l.strip() and not l.startswith("#")]
        self.assertEqual(lines[0].split()[:2], ["u", "harvestd"])


if __name__ == "__main__":
    harness.main()
