"""A deliberately broken HTTP server for fault tests, on 127.0.0.1.

Each connection reads one request and misbehaves according to its path:

  /drip          declares 1000 bytes, then sends one byte a second
  /endless       a body that never ends
  /huge-headers  a response header line of 300 KiB
  /bad-status    a status line that is not HTTP
  /reset         half the declared body, then a TCP reset
  /silent        accepts, reads the request, never answers
  /bad-chunked   chunked encoding with a chunk size that is not hex
  /loop          a redirect to itself
  /gzip-bomb     100 MiB of zeros, gzip-compressed to about 100 KiB

Every writer stops when the client goes away or the server is stopped.
"""
import socket
import struct
import threading
import time
import zlib


def _bomb():
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    chunk = b"\0" * (1 << 20)
    parts = [comp.compress(chunk) for _ in range(100)]
    parts.append(comp.flush())
    return b"".join(parts)


class HostileServer:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.hits = {}
        self.lock = threading.Lock()
        self.threads = []
        self.bomb = _bomb()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self):
        self.acceptor.start()
        return self

    def stop(self):
        self.stopping.set()
        self.acceptor.join(timeout=5)
        for t in self.threads:
            t.join(timeout=5)
        self.sock.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _send(self, conn, data):
        conn.sendall(data)

    def _serve(self, conn):
        conn.settimeout(0.2)
        try:
            req = b""
            deadline = time.monotonic() + 5
            while b"\r\n\r\n" not in req and time.monotonic() < deadline:
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                if not data:
                    return
                req += data
            path = req.split(b" ", 2)[1].decode() if b" " in req else "/"
            with self.lock:
                self.hits[path] = self.hits.get(path, 0) + 1
            getattr(self, "_" + path.strip("/").replace("-", "_"),
                    self._missing)(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _missing(self, conn):
        self._send(conn, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                   b"Connection: close\r\n\r\n")

    def _drip(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while not self.stopping.wait(1.0):
            self._send(conn, b"x")

    def _endless(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   b"Connection: close\r\n\r\n")
        block = b"y" * 65536
        while not self.stopping.is_set():
            self._send(conn, block)

    def _huge_headers(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 300000 +
                   b"\r\nContent-Length: 2\r\n\r\nok")

    def _bad_status(self, conn):
        self._send(conn, b"HTZP/9.9 two hundred\r\n\x00\x01garbage\r\n\r\n")

    def _reset(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                   + b"r" * 50000)
        time.sleep(0.1)
        # SO_LINGER 0: close() sends a RST instead of a FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))

    def _silent(self, conn):
        while not self.stopping.wait(0.2):
            pass

    def _bad_chunked(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                   b"\r\n5\r\nhello\r\nzz-not-hex\r\nmore\r\n0\r\n\r\n")

    def _loop(self, conn):
        self._send(conn, b"HTTP/1.1 302 Found\r\nLocation: /loop\r\n"
                   b"Content-Length: 0\r\n\r\n")

    def _gzip_bomb(self, conn):
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(self.bomb) + self.bomb)
