"""A webhook receiver for the integration tests, on Python's http.server.

Usage: receiver.py SECRET PROTOCOL (HTTP/1.1 keeps connections alive and
takes pipelined requests; HTTP/1.0 closes each after one answer). It
listens on a free port of 127.0.0.1, prints the port, counts the records
of every POST whose X-Sluice-Signature verifies, and answers GET with
{"records": {key: deliveries}, "bad": unverified POSTs}.
"""
import hashlib
import hmac
import http.server
import json
import sys
import threading

secret, protocol = sys.argv[1].encode(), sys.argv[2]
records, bad, lock = {}, [0], threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = protocol

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        with lock:
            if not hmac.compare_digest(sig, self.headers.get("X-Sluice-Signature", "")):
                bad[0] += 1
            else:
                for r in json.loads(body)["Records"]:
                    key = r["s3"]["object"]["key"]
                    records[key] = records.get(key, 0) + 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with lock:
            out = json.dumps({"records": records, "bad": bad[0]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
