"""HTTPS for the integration tests: a throwaway CA, certificates for
127.0.0.1 made with the openssl command, and the test server behind TLS
(optionally asking for a client certificate)."""
import os
import ssl
import subprocess

from testserver import TestServer


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


class Pki:
    """A CA and certificates it signed, in directory d."""

    def __init__(self, d):
        self.dir = d
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=harvestd test CA", "-keyout", "ca.key",
                 "-out", "ca.pem", cwd=d)
        self.ca = os.path.join(d, "ca.pem")
        self.server_cert, self.server_key = self.issue("server",
                                                       "IP:127.0.0.1")
        self.client_cert, self.client_key = self.issue("client", None)

    def issue(self, name, san):
        _openssl("req", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
                 "/CN=%s" % name, "-keyout", name + ".key", "-out",
                 name + ".csr", cwd=self.dir)
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write("subjectAltName=%s\n" % san)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                 "-extfile", ext, "-out", name + ".pem", cwd=self.dir)
        return (os.path.join(self.dir, name + ".pem"),
                os.path.join(self.dir, name + ".key"))


class TlsServer(TestServer):
    """The test server over HTTPS; with client_ca, a client certificate
    signed by it is required."""

    def __init__(self, pki, client_ca=False):
        super().__init__()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki.ca)
        self.socket = ctx.wrap_socket(self.socket, server_side=True,
                                      do_handshake_on_connect=False)

    def finish_request(self, request, client_address):
        # The handshake runs in the request's thread, so a client that
        # fails it cannot stall the accept loop.
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)
