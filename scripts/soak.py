"""Soak driver for scripts/soak.sh: a real OpenBao dev server and the vaultgate binary under a
bounded mixed workload (allowed reads and writes, denials, malformed requests, raw protocol
garbage), a policy rewrite every 30 s and an OpenBao restart half-way. Prints the figures that
docs/benchmarks.md records and exits non-zero on any error beyond the injected faults.

Every loop is bounded in time; every process it starts is stopped on exit.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_POLICY = """
path "secret/data/acme/billing/*"     { capabilities = ["create", "read", "update", "patch", "delete"] }
path "secret/metadata/acme/billing/*" { capabilities = ["read", "list", "delete"] }
path "auth/token/lookup-self"         { capabilities = ["read"] }
path "auth/token/renew-self"          { capabilities = ["update"] }
path "auth/token/revoke-self"         { capabilities = ["update"] }
"""
# (kind, method, path, body, statuses that are correct outside an injected fault)
WORKLOAD = [
    ("read", "GET", "secret/data/acme/billing/db", None, {200}),
    ("write", "POST", "secret/data/acme/billing/soak-{w}", {"data": {"n": 1}}, {200, 204}),
    ("read", "GET", "secret/data/acme/billing/db", None, {200}),
    ("denied", "GET", "secret/data/acme/web/key", None, {403}),
    ("denied", "GET", "secret/data/acme/billing/admin", None, {403}),
    ("malformed", "GET", "secret/data/acme/billing%2F..%2Fweb/key", None, {400}),
    ("malformed", "POST", "secret/data/acme/billing/x", "{not json", {400}),
    ("malformed", "BREW", "secret/data/acme/billing/db", None, {405}),
]
# What an OpenBao outage may legitimately produce: vaultgate's own 502/503/504, and Vault's own
# 403/404 between its restart and the re-seeding (the old token and the data are really gone).
FAULT_STATUSES = {502, 503, 504, 403, 404}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_figures(pid):
    """(RSS in KiB, open file descriptors) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class OpenBao:
    def __init__(self, bao, work):
        self.bao, self.work, self.port = bao, work, free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.http = requests.Session()
        self.http.headers["X-Vault-Token"] = "root"

    def start(self):
        log = open(os.path.join(self.work, "openbao.log"), "a")
        self.proc = subprocess.Popen(
            [self.bao, "server", "-dev", "-dev-root-token-id=root",
             f"-dev-listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=log, env={"PATH": os.environ["PATH"], "HOME": self.work})
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.http.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit("OpenBao did not become healthy")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def api(self, method, path, body=None):
        r = self.http.request(method, f"{self.addr}/v1/{path}", json=body, timeout=10)
        if r.status_code >= 300 and not (path == "sys/auth/approle" and r.status_code == 400):
            raise SystemExit(f"OpenBao {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.text else None

    def seed(self, secrets):
        """Secrets, the service's Vault policy and an AppRole; credentials into `secrets`
        (vaultgate reads them at each login, so a re-seed after a restart is picked up)."""
        self.api("POST", "secret/data/acme/billing/db", {"data": {"password": "soak-pw"}})
        self.api("PUT", "sys/policies/acl/acme-billing", {"policy": SERVICE_POLICY})
        self.api("POST", "sys/auth/approle", {"type": "approle"})
        self.api("POST", "auth/approle/role/acme-billing",
                 {"token_policies": ["acme-billing"], "token_no_default_policy": True,
                  "token_ttl": "1h"})
        role = self.api("GET", "auth/approle/role/acme-billing/role-id")["data"]["role_id"]
        secret = self.api("POST", "auth/approle/role/acme-billing/secret-id")["data"]["secret_id"]
        for name, value in (("role_id", role), ("secret_id", secret)):
            with open(os.path.join(secrets, name), "w") as f:
                f.write(value)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0  # requests that reached vaultgate's request pipeline (HTTP answers)
        self.by_status = {}
        self.injected = 0  # fault-window answers with a fault status
        self.errors = []  # anything else unexpected
        self.protocol_rejects = 0  # raw garbage refused by the HTTP layer (no record by design)
        self.ids = 0

    def note(self, kind, status, expected, in_fault, detail=""):
        with self.lock:
            self.sent += 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status in expected:
                return
            if in_fault and status in FAULT_STATUSES:
                self.injected += 1
            else:
                self.errors.append(f"{kind} -> {status} {detail[:200]}")

    def error(self, what):
        with self.lock:
            self.errors.append(what)


def worker(w, base, tls, stop, fault, stats, pause):
    session = None
    i = 0
    while not stop.is_set():
        if session is None or i % 50 == 0:
            # A fresh connection now and then, so accept/handshake/close paths soak too.
            session = requests.Session()
            # Otherwise REQUESTS_CA_BUNDLE in the environment overrides `verify`.
            session.trust_env = False
            session.cert, session.verify = tls["cert"], tls["ca"]
        if i % 97 == 96:
            raw_garbage(base, tls, stats)
        kind, method, path, body, expected = WORKLOAD[i % len(WORKLOAD)]
        i += 1
        url = f"{base}/v1/{path.format(w=w)}"
        kwargs = {"timeout": 30}
        if isinstance(body, dict):
            kwargs["json"] = body
        elif body is not None:
            kwargs["data"] = body
            kwargs["headers"] = {"Content-Type": "application/json"}
        was_fault = fault.is_set()
        try:
            r = session.request(method, url, **kwargs)
        except requests.RequestException as e:
            stats.error(f"{kind}: transport error {e}")
            session = None
            continue
        if "x-vaultgate-request-id" not in r.headers:
            stats.error(f"{kind} -> {r.status_code} without a request id")
        stats.note(kind, r.status_code, expected, was_fault or fault.is_set(), r.text)
        time.sleep(pause)


def raw_garbage(base, tls, stats):
    """A request hyper must refuse before the proxy: conflicting framing headers."""
    host, port = base.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=tls["ca"])
    ctx.load_cert_chain(*tls["cert"])
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"POST /v1/secret/data/acme/billing/x HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde")
                answer = s.recv(64)
        if answer and not answer.startswith(b"HTTP/1.1 4"):
            stats.error(f"raw garbage answered {answer[:30]!r}")
        with stats.lock:
            stats.protocol_rejects += 1
    except OSError as e:
        stats.error(f"raw garbage: {e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--workers", type=int, default=4)
    # A pause between each worker's requests: a soak tests staying power, not peak speed,
    # and the machines it runs on are often shared.
    ap.add_argument("--pause-ms", type=float, default=10)
    ap.add_argument("--vaultgate", required=True)
    ap.add_argument("--bao", required=True)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="vaultgate-soak-")
    secrets = os.path.join(work, "secrets")
    os.makedirs(secrets)
    policies = os.path.join(work, "policies")
    shutil.copytree(os.path.join(ROOT, "policies"), policies)
    bao = OpenBao(args.bao, work)
    vg = None
    try:
        bao.start()
        bao.seed(secrets)
        subprocess.run([args.vaultgate, "certs", "init", "--dir", f"{work}/certs",
                        "--service", "acme/billing"], check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        audit = os.path.join(work, "audit.jsonl")
        with open(os.path.join(work, "vaultgate.toml"), "w") as f:
            f.write(f"""[vault]
address = "{bao.addr}"
timeout = "5s"
connect_timeout = "1s"

[[listener]]
address = "127.0.0.1:{port}"
tls_cert = "certs/localhost.pem"
tls_key = "certs/localhost-key.pem"
client_ca = "certs/ca.pem"

[[service]]
name = "acme/billing"
auth = "approle"
role_id_file = "secrets/role_id"
secret_id_file = "secrets/secret_id"

[policies]
dir = "{policies}"

[audit]
file = "{audit}"
""")
        vg = subprocess.Popen([args.vaultgate, "run", "--config", f"{work}/vaultgate.toml"],
                              cwd=work, stdout=open(f"{work}/vaultgate.log", "w"),
                              stderr=subprocess.STDOUT, env={**os.environ, "VAULTGATE_LOG": "warn"})
        base = f"https://127.0.0.1:{port}"
        tls = {"ca": f"{work}/certs/ca.pem",
               "cert": (f"{work}/certs/acme-billing.pem", f"{work}/certs/acme-billing-key.pem")}
        stats = Stats()
        ready = False
        for _ in range(100):
            try:
                r = requests.get(f"{base}/v1/secret/data/acme/billing/db", cert=tls["cert"],
                                 verify=tls["ca"], timeout=5)
                stats.note("ready", r.status_code, {200, 503}, True)
                if r.status_code == 200:
                    ready = True
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        if not ready:
            raise SystemExit(f"vaultgate did not become ready; see {work}/vaultgate.log")

        rss0, fds0 = proc_figures(vg.pid)
        peak = rss0
        stop, fault = threading.Event(), threading.Event()
        threads = [threading.Thread(target=worker, args=(w, base, tls, stop, fault, stats, args.pause_ms / 1000))
                   for w in range(args.workers)]
        for t in threads:
            t.start()
        started = time.time()
        total = args.minutes * 60
        restart_at, restarted, reloads, next_reload = total / 2, False, 0, 30
        warm = None
        outage = None
        # One sample per minute: a plateau and a slow leak look alike in start/peak/end alone.
        per_minute = []
        while time.time() - started < total:
            time.sleep(1)
            elapsed = time.time() - started
            rss, _ = proc_figures(vg.pid)
            peak = max(peak, rss)
            if warm is None and elapsed >= 30:
                warm = proc_figures(vg.pid)
            if elapsed >= 60 * (len(per_minute) + 1):
                per_minute.append(proc_figures(vg.pid))
            if elapsed >= next_reload:
                next_reload += 30
                reloads += 1
                with open(os.path.join(policies, "acme.hcl"), "a") as f:
                    f.write(f"\n# soak reload {reloads}\n")
            if not restarted and elapsed >= restart_at:
                restarted = True
                fault.set()
                down = time.time()
                bao.stop()
                time.sleep(3)
                bao.start()
                bao.seed(secrets)
                # The fault window closes once a read succeeds again, plus the in-flight tail.
                for _ in range(300):
                    r = requests.get(f"{base}/v1/secret/data/acme/billing/db",
                                     cert=tls["cert"], verify=tls["ca"], timeout=30)
                    stats.note("recovery", r.status_code, {200}, True)
                    if r.status_code == 200:
                        break
                    time.sleep(0.1)
                outage = time.time() - down
                time.sleep(1)
                fault.clear()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        rss1, fds1 = proc_figures(vg.pid)
        peak = max(peak, rss1)
        vg.send_signal(signal.SIGTERM)
        vg.wait(timeout=30)
        records = [json.loads(line) for line in open(audit)]
        audited = sum(1 for r in records if r.get("type") == "request")
        reload_events = sum(1 for r in records
                            if (r.get("event") or {}).get("name") == "policy_reload")
        report = {
            "minutes": args.minutes,
            "workers": args.workers,
            "pause_ms": args.pause_ms,
            "requests": stats.sent,
            "requests_per_s": round(stats.sent / total, 1),
            "status_counts": dict(sorted(stats.by_status.items())),
            "injected_fault_answers": stats.injected,
            "protocol_rejects_unaudited_by_design": stats.protocol_rejects,
            "unexpected_errors": len(stats.errors),
            "audit_request_records": audited,
            "policy_rewrites": reloads,
            "policy_reload_events": reload_events,
            "openbao_outage_s": round(outage, 1) if outage else None,
            "rss_kib": {"start": rss0, "after_30s": warm[0] if warm else None,
                        "peak": peak, "end": rss1,
                        "each_minute": [m[0] for m in per_minute]},
            "fds": {"start": fds0, "after_30s": warm[1] if warm else None, "end": fds1,
                    "each_minute": [m[1] for m in per_minute]},
        }
        print(json.dumps(report, indent=2))
        for e in stats.errors[:20]:
            print("unexpected:", e, file=sys.stderr)
        ok = not stats.errors and audited == stats.sent
        if audited != stats.sent:
            print(f"audit records {audited} != requests {stats.sent}", file=sys.stderr)
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept for inspection (logs, audit): {work}", file=sys.stderr)
        sys.exit(0 if ok else 1)
    finally:
        if vg and vg.poll() is None:
            vg.kill()
        bao.stop()


if __name__ == "__main__":
    main()
