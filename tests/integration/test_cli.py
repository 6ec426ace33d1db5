"""harvestd's command line: version, help, config checking, bad input."""
import os
import socket
import subprocess

import harness


def run(*args):
    return subprocess.run([harness.HARVESTD] + list(args),
                          capture_output=True, text=True, timeout=30)


class CliTest(harness.TestCase):
    def test_version(self):
        out = run("--version")
        self.assertEqual(out.returncode, 0)
        self.assertRegex(out.stdout, r"^harvestd \d+\.\d+\.\d+\n$")

    def test_help_lists_flags_and_keys(self):
        out = run("--help")
        self.assertEqual(out.returncode, 0)
        for flag in ("--config", "--db", "--listen", "--port",
                     "--concurrency", "--log-level", "--version", "--help"):
            self.assertIn(flag, out.stdout)
        self.assertIn("max_body_bytes", out.stdout)

    def test_example_config_is_valid(self):
        conf = os.path.join(harness.SRCDIR, "etc", "harvestd.conf")
        out = run("--config", conf, "--check-config")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "configuration OK\n")

    def test_flags_override_file(self):
        path = os.path.join(self.workdir, "h.conf")
        with open(path, "w") as f:
            f.write("port = 9999\nconcurrency = 3\nlog_level = debug\n")
        out = run("--config", path, "--port", "7777", "--print-config")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("port = 7777\n", out.stdout)
        self.assertIn("concurrency = 3\n", out.stdout)
        self.assertIn("log_level = debug\n", out.stdout)

    def test_bad_config_names_file_and_line(self):
        path = os.path.join(self.workdir, "bad.conf")
        with open(path, "w") as f:
            f.write("port = 8080\n# fine\nconcurrency = many\n")
        out = run("--config", path, "--check-config")
        self.assertEqual(out.returncode, 1)
        self.assertIn("%s:3: concurrency" % path, out.stderr)

    def test_bad_flags(self):
        self.assertEqual(run("--no-such-flag").returncode, 2)
        out = run("--port", "70000", "--check-config")
        self.assertEqual(out.returncode, 1)
        self.assertIn("port", out.stderr)
        self.assertEqual(run("--log-level", "chatty",
                             "--check-config").returncode, 1)

    def test_port_in_use_fails_clearly(self):
        d = self.daemon()
        out = subprocess.run(
            [harness.HARVESTD, "--db", os.path.join(self.workdir, "b.db"),
             "--port", str(d.port)], capture_output=True, text=True,
            timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot listen", out.stderr)

    def test_port_in_use_fails_before_the_database(self):
        # The port is bound first: nothing is created when it is taken.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            db = os.path.join(self.workdir, "never.db")
            out = subprocess.run(
                [harness.HARVESTD, "--db", db, "--listen", "127.0.0.1",
                 "--port", str(port)], capture_output=True, text=True,
                timeout=30)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cannot listen on 127.0.0.1 port %d: Address already "
                      "in use" % port, out.stderr)
        self.assertFalse(os.path.exists(db))
        self.assertEqual([f for f in os.listdir(self.workdir)
                          if f.startswith("never.db")], [])

    def test_sigint_and_sigterm_exit_cleanly(self):
        import signal
        for sig in (signal.SIGINT, signal.SIGTERM):
            d = self.daemon()
            self.assertEqual(d.stop(sig), 0, d.log())
            self.assertIn("stopped cleanly", d.log())
            # The database is closed and consistent.
            self.assertEqual(harness.sql(d.db, "PRAGMA integrity_check"),
                             [("ok",)])

    def test_sighup_reloads_or_keeps_config(self):
        import signal
        path = os.path.join(self.workdir, "h.conf")
        with open(path, "w") as f:
            f.write("concurrency = 4\n")
        d = self.daemon("--config", path)
        with open(path, "w") as f:
            f.write("concurrency = 9\nlog_level = debug\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied (concurrency=9 "
                      "log_level=debug)")
        with open(path, "w") as f:
            f.write("concurrency = zero\n")
        d.send(signal.SIGHUP)
        d.wait_log("keeping the running configuration")
        # Still serving, with the last good configuration.
        job = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        self.assertEqual(job["counts"]["done"], 1)
        self.assertIn("fetch_finish", d.log())  # debug level is on
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    harness.main()
