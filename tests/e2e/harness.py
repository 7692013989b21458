"""Shared pieces of the end-to-end tests: the Carillon process, the aws CLI, the DNS stub,
the stand-in remote MX, IMAP helpers and the message comparison rule.

Comparison rule (corpora README): a message fetched with BODY.PEEK[] equals its source after
CRLF -> LF and after removing only the trace headers Carillon documents that it prepends:
Return-Path and Received.
"""

import imaplib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import urllib.error
import urllib.request

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from dnslib import QTYPE, RR
from dnslib.server import BaseResolver

TRACE_HEADERS = (b"return-path:", b"received:", b"authentication-results:")
PASSWORD = "Corr3ct-Horse!"
DOMAIN = "example.com"
EXTERNAL = "partner@remote.test"
FAILURES = []


def free_port():
    """A loopback port nobody listens on now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(condition, what):
    if condition:
        print(f"ok: {what}")
    else:
        print(f"FAILED: {what}")
        FAILURES.append(what)


def normalize(raw: bytes) -> bytes:
    """CRLF -> LF, then drop the leading trace headers (with their folded lines)."""
    data = raw.replace(b"\r\n", b"\n")
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].lower().startswith(TRACE_HEADERS):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return b"\n".join(lines[i:])


class Zone(BaseResolver):
    """A DNS stub answering the records the test publishes (the configurable resolver)."""

    def __init__(self):
        self.records = {}  # (name, qtype) -> [rdata]

    def add(self, name, qtype, rdata):
        self.records.setdefault((name.rstrip(".").lower(), qtype), []).append(rdata)

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        for rdata in self.records.get((name, qtype), []):
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if not reply.rr:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


class Collector:
    """aiosmtpd handler keeping every message the external peer receives."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


class Carillon:
    def __init__(self, binary, data_dir, extra, database_url=None):
        self.binary = binary
        self.data_dir = data_dir
        # The store options every subcommand must share with the server.
        self.store_args = ["--data-dir", data_dir]
        if database_url:
            self.store_args += ["--database-url", database_url]
        self.proc = subprocess.Popen(
            [binary, "serve", *self.store_args, "--http-addr", "127.0.0.1:0",
             "--smtp-addr", "127.0.0.1:0", "--submission-addr", "127.0.0.1:0",
             "--imap-addr", "127.0.0.1:0", "--imaps-addr", "127.0.0.1:0",
             "--hostname", "localhost"] + extra,
            stdout=subprocess.PIPE, text=True)
        self.addrs = {}
        deadline = time.time() + 120
        while len(self.addrs) < 5:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"carillon exited early with {self.proc.wait()}")
            if time.time() > deadline:
                raise RuntimeError("carillon did not print its listeners in time")
            parts = line.split()
            if len(parts) == 3 and parts[0] == "listening":
                host, port = parts[2].rsplit(":", 1)
                self.addrs[parts[1]] = (host, int(port))
        self.endpoint = "http://%s:%d" % self.addrs["http"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        check(code == 0, f"SIGTERM shuts carillon down cleanly (exit {code})")

    def kill(self):
        """kill -9: no chance to flush or clean up."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def cli(self, *args):
        out = subprocess.run([self.binary, *args, *self.store_args],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"carillon {' '.join(args)} failed: {out.stderr}")
        return out.stdout


def credentials(path):
    """(access key ID, secret access key) of a shared-credentials file's [default] profile."""
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip()
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def aws(server, credentials_file, *args, expect_error=None):
    """Runs the real `aws` CLI (PyPI awscli) against Carillon; returns parsed JSON output."""
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=credentials_file, AWS_CONFIG_FILE=os.devnull,
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    cmd = [sys.executable, "-m", "awscli", *args, "--endpoint-url", server.endpoint, "--output", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if expect_error:
        if out.returncode == 0:
            raise AssertionError(f"aws {' '.join(args)} succeeded, expected {expect_error}")
        return out.stderr
    if out.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout) if out.stdout.strip() else {}


def imap_connect(server, address, password=PASSWORD):
    ctx = ssl.create_default_context(cafile=os.path.join(server.data_dir, "tls", "cert.pem"))
    imap = imaplib.IMAP4_SSL(*server.addrs["imaps"], ssl_context=ctx)
    imap.login(address, password)
    return imap


def fetch_all(imap, folder):
    typ, _ = imap.select(f'"{folder}"', readonly=True)
    assert typ == "OK", folder
    typ, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[])")
    bodies = []
    if typ == "OK":
        for item in data:
            if isinstance(item, tuple):
                bodies.append(item[1])
    return bodies


def carillon_call(server, creds_file, method, path, body=None, service="carillon"):
    """A request to Carillon's admin API signed by botocore (SigV4, `service`);
    returns (status, headers, parsed JSON body)."""
    key, secret = credentials(creds_file)
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=server.endpoint + path, data=data,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    return send(request.method, request.url, data, dict(request.headers))


def send(method, url, data=b"", headers=None):
    req = urllib.request.Request(url, data=data or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")
