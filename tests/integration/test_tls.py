"""TLS as operators need it: a private CA (ca_file, ca_path, or
$SSL_CERT_FILE), client certificates, and an explicit tls_verify = false
that is warned about."""
import os
import shutil
import subprocess

import harness
from tlsserver import Pki, TlsServer


class TlsTest(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.pki = Pki(self.workdir)
        self.https = TlsServer(self.pki).start()
        self.addCleanup(self.https.stop)

    def fetch(self, d, url, **options):
        r = d.submit([url], **options)
        self.assertEqual(r.status, 201, r.body)
        job = d.wait_job(r.json()["id"])
        (row,) = d.results(job["id"])
        return job, row

    def test_private_ca_is_not_trusted_by_default(self):
        d = self.daemon()
        _, row = self.fetch(d, self.https.url("/hello"))
        self.assertEqual(row["error_kind"], "tls")
        self.assertEqual(self.https.hits["/hello"], 0)

    def test_ca_file_job_field(self):
        d = self.daemon()
        job, row = self.fetch(d, self.https.url("/hello"),
                              ca_file=self.pki.ca)
        self.assertEqual(row["status"], 200, row)
        self.assertIsNone(row["error_kind"])
        self.assertEqual(job["options"]["ca_file"], self.pki.ca)
        self.assertNotIn("warnings", job)

    def test_ca_file_setting_and_ca_path(self):
        d = self.daemon("--set", "ca_file=" + self.pki.ca)
        _, row = self.fetch(d, self.https.url("/hello"))
        self.assertEqual(row["status"], 200, row)
        # A directory of hashed certificates works as well.
        certs = os.path.join(self.workdir, "certs")
        os.mkdir(certs)
        shutil.copy(self.pki.ca, certs)
        subprocess.run(["openssl", "rehash", certs], check=True,
                       capture_output=True)
        d2 = self.daemon("--set", "ca_path=" + certs,
                         db=os.path.join(self.workdir, "second.db"))
        _, row = self.fetch(d2, self.https.url("/hello?2"))
        self.assertEqual(row["status"], 200, row)

    def test_ssl_cert_file_environment(self):
        d = self.daemon(env={"SSL_CERT_FILE": self.pki.ca})
        _, row = self.fetch(d, self.https.url("/hello"))
        self.assertEqual(row["status"], 200, row)
        # A job's own ca_file still wins (here: a CA that did not sign it).
        os.mkdir(os.path.join(self.workdir, "other"))
        other = Pki(os.path.join(self.workdir, "other"))
        _, row = self.fetch(d, self.https.url("/hello?x"), ca_file=other.ca)
        self.assertEqual(row["error_kind"], "tls")

    def test_tls_verify_false_is_warned(self):
        d = self.daemon()
        job, row = self.fetch(d, self.https.url("/hello"), tls_verify=False)
        self.assertEqual(row["status"], 200, row)
        self.assertIn("tls_verify is false", " ".join(job["warnings"]))
        self.assertIn("job %d: tls_verify is false" % job["id"], d.log())
        listed = d.get("/v1/jobs").json()["jobs"]
        self.assertIn("warnings", listed[0])
        # The setting: every job without its own tls_verify is warned.
        d2 = self.daemon("--set", "tls_verify=false",
                         db=os.path.join(self.workdir, "second.db"))
        self.assertIn("tls_verify is false", d2.log())
        job, row = self.fetch(d2, self.https.url("/hello?2"))
        self.assertEqual(row["status"], 200, row)
        self.assertIn("warnings", job)
        job, row = self.fetch(d2, self.https.url("/hello?3"),
                              tls_verify=True)
        self.assertEqual(row["error_kind"], "tls")
        self.assertNotIn("warnings", job)

    def test_client_certificate(self):
        mtls = TlsServer(self.pki, client_ca=True).start()
        self.addCleanup(mtls.stop)
        d = self.daemon("--set", "ca_file=" + self.pki.ca)
        _, row = self.fetch(d, mtls.url("/hello"))
        self.assertNotEqual(row["status"], 200, row)
        self.assertIsNotNone(row["error_kind"])
        _, row = self.fetch(d, mtls.url("/hello?c"),
                            client_cert=self.pki.client_cert,
                            client_key=self.pki.client_key)
        self.assertEqual(row["status"], 200, row)
        self.assertEqual(mtls.hits["/hello"], 1)


if __name__ == "__main__":
    harness.main()
