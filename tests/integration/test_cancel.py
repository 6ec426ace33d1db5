"""DELETE /v1/jobs/{id}: queued tasks are cancelled, transfers in flight
are aborted, and every task still ends with exactly one result."""
import time

import harness


class CancelTest(harness.TestCase):
    def test_cancel_running_job(self):
        d = self.daemon("--concurrency", "8")
        urls = [self.server.url("/slow/5000?i=%d" % i) for i in range(40)]
        job_id = d.submit(urls, concurrency=4).json()["id"]
        # Wait until the four allowed transfers reach the server.
        deadline = time.monotonic() + 10 * harness.SLOW
        while self.server.in_flight < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.server.in_flight, 4)
        self.assertLessEqual(self.server.max_in_flight, 4)

        t0 = time.monotonic()
        r = d.request("DELETE", "/v1/jobs/%d" % job_id)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"], "cancelled")
        job = d.wait_job(job_id, states=("cancelled",))
        # Aborted transfers end long before the server's 5 s answer.
        deadline = time.monotonic() + 10 * harness.SLOW
        while time.monotonic() < deadline:
            job = d.get("/v1/jobs/%d" % job_id).json()
            if job["counts"]["running"] == 0:
                break
            time.sleep(0.02)
        self.assertLess(time.monotonic() - t0, 4)
        self.assertEqual(job["counts"]["cancelled"], 40)
        rows = harness.sql(d.db, "SELECT error_kind, error_message FROM "
                           "results WHERE job_id = ?", job_id)
        self.assertEqual(len(rows), 40)
        self.assertTrue(all(k == "cancelled" for k, _ in rows))
        in_flight = [m for _, m in rows if "in flight" in m]
        self.assertEqual(len(in_flight), 4)
        # The daemon goes on serving other work.
        other = d.submit([self.server.url("/hello")]).json()["id"]
        self.assertEqual(d.wait_job(other)["counts"]["done"], 1)
        # Cancelling again changes nothing; a finished job stays done.
        self.assertEqual(d.request("DELETE", "/v1/jobs/%d" % job_id)
                         .json()["state"], "cancelled")
        self.assertEqual(d.request("DELETE", "/v1/jobs/%d" % other)
                         .json()["state"], "done")


if __name__ == "__main__":
    harness.main()
