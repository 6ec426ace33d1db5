"""What a week of real use broke (issue 11): each test failed on the
daemon before the fix."""
import os
import signal

import harness


class ReloadGuardTest(harness.TestCase):
    def test_reload_guard_holds_for_reused_connections(self):
        """After SIGHUP turns block_private_addresses on, a loopback
        origin harvestd still has a keep-alive connection to is refused
        like a new one (it was fetched before: 200)."""
        path = os.path.join(self.workdir, "h.conf")
        with open(path, "w") as f:
            f.write("block_private_addresses = false\n")
        d = self.daemon("--config", path, guard=True)
        job = d.wait_job(d.submit([self.server.url("/hello")]).json()["id"])
        self.assertEqual(job["counts"]["done"], 1)
        with open(path, "w") as f:
            f.write("block_private_addresses = true\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied")
        job = d.wait_job(d.submit([self.server.url("/hello?again")])
                         .json()["id"])
        (row,) = d.results(job["id"])
        self.assertEqual(row["error_kind"], "blocked_address", row)
        self.assertIn("127.0.0.1", row["error_message"])
        self.assertEqual(self.server.hits["/hello"], 1)
        # And back: the allowed network exempts it again.
        with open(path, "w") as f:
            f.write("block_private_addresses = true\n"
                    "allowed_networks = 127.0.0.0/8\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload: configuration applied", timeout=10)
        job = d.wait_job(d.submit([self.server.url("/hello?third")])
                         .json()["id"])
        self.assertEqual(job["counts"]["done"], 1)
        self.assertEqual(self.server.hits["/hello"], 2)


if __name__ == "__main__":
    harness.main()
