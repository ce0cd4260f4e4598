"""A functional check of the python-socketio baseline across two nodes (not a benchmark).

    .venv/bin/python check.py URL [--ports 3201,3202] [--count 100] [--timeout 30]

Starts two `server.py --adapter URL` nodes with one fresh prefix (so they share a channel on the
broker), connects one python-socketio client to each over WebSocket, and checks:

1. both clients `join` room `x` (acks `true`);
2. a `burst` of COUNT (`{"room": "x", "from": 0, "count": COUNT, "payload": "p"}`) sent to node 1:
   its ack is COUNT, and each client receives the COUNT `msg` events `(0, "p")` … `(COUNT-1, "p")`;
3. `echo` on each node acks the arguments it was given;
4. a `fanout` sent to node 2: acks `true`, and both clients receive its `msg`.

URL is any adapter server.py knows: memory (one node only: the check then fails at step 2, as it
should), redis://127.0.0.1:6379, amqp://guest:guest@127.0.0.1:5672, kafka://127.0.0.1:9092. Exits
0 when every check passed, 1 otherwise (and prints the servers' logs), 2 when a server did not
start. Run it with the baseline's venv (bench/run.sh creates it) from any folder.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import socketio

HERE = os.path.dirname(os.path.abspath(__file__))


class Member:
    """A client and the `msg` events it received."""

    def __init__(self, name: str):
        self.name = name
        self.client = socketio.Client(reconnection=False)
        self.msgs = []
        self.cond = threading.Condition()
        self.client.on("msg", self._on_msg)

    def _on_msg(self, *args):
        with self.cond:
            self.msgs.append(list(args))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.msgs) >= n, timeout)

    def take(self):
        with self.cond:
            got, self.msgs = self.msgs, []
            return got


def wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("adapter")
    parser.add_argument("--ports", default="3201,3202")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=30.0)
    opts = parser.parse_args()
    ports = [int(p) for p in opts.ports.split(",")]
    prefix = f"volley-check-{uuid.uuid4().hex[:8]}"
    failures = []

    def check(ok: bool, what: str) -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)
        return ok

    logs, procs = [], []
    try:
        for port in ports:
            log = tempfile.TemporaryFile(mode="w+")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [sys.executable, "server.py", "--port", str(port), "--adapter", opts.adapter,
                     "--prefix", prefix],
                    cwd=HERE, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            )
        for port, proc in zip(ports, procs):
            if not wait_listening(port, proc, 60):
                print(f"FAIL server on port {port} did not start", flush=True)
                failures.append("start")
                return 2
        print(f"two nodes on {ports} with {opts.adapter}, prefix {prefix}", flush=True)

        members = [Member(f"client {i + 1} (port {p})") for i, p in enumerate(ports)]
        for m, port in zip(members, ports):
            m.client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=10)
        for m in members:
            check(m.client.call("join", "x", timeout=opts.timeout) is True, f"{m.name}: join x")

        n = opts.count
        t0 = time.monotonic()
        ack = members[0].client.call(
            "burst", {"room": "x", "from": 0, "count": n, "payload": "p"}, timeout=opts.timeout
        )
        acked = time.monotonic() - t0
        check(ack == n, f"burst of {n} to node 1: ack {ack!r} after {acked:.2f} s")
        want = [[i, "p"] for i in range(n)]
        waited = []
        for m in members:
            m.wait_for(n, max(0.0, t0 + opts.timeout - time.monotonic()))
            waited.append(time.monotonic() - t0)
        time.sleep(0.2)  # a little longer: duplicates would show up here
        for m, waited in zip(members, waited):
            got = m.take()
            seqs = [g[0] for g in got]
            detail = f"{len(got)} msg events (the {n}th {waited:.2f} s after the burst was sent)"
            if got != want:
                missing = sorted(set(range(n)) - set(seqs))
                detail += (
                    f"; missing {len(missing)} (first {missing[:10]}), "
                    f"{len(seqs) - len(set(seqs))} duplicates, "
                    f"in order: {seqs == sorted(seqs)}, other: {[g for g in got if g[1] != 'p'][:3]}"
                )
            check(got == want, f"{m.name}: burst received, {detail}")

        for m in members:
            args = ("a", 1, {"k": [True, None]})
            echoed = m.client.call("echo", args, timeout=opts.timeout)
            check(echoed == args, f"{m.name}: echo acked {echoed!r}")

        ack = members[1].client.call(
            "fanout", {"room": "x", "seq": 7, "payload": {"f": 1}}, timeout=opts.timeout
        )
        check(ack is True, f"fanout to node 2: ack {ack!r}")
        for m in members:
            m.wait_for(1, opts.timeout)
            time.sleep(0.2)
            got = m.take()
            check(got == [[7, {"f": 1}]], f"{m.name}: fanout received {got!r}")

        for m in members:
            m.client.disconnect()
    except Exception as e:  # a timeout of call(), a failed connect
        check(False, f"{type(e).__name__}: {e}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if failures:
            for port, log in zip(ports, logs):
                log.seek(0)
                print(f"--- server on port {port}:\n{log.read()}", end="")
        for log in logs:
            log.close()
    print(f"{'FAILED' if failures else 'passed'}: {opts.adapter}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
