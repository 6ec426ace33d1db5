"""The systemd unit: `systemd-analyze verify` is clean and
`systemd-analyze security` rates its exposure at 2.0 or lower. Skipped
where systemd-analyze is not installed (Debian's systemd package)."""
import os
import re
import shutil
import subprocess

import harness


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
