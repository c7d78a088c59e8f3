#!/usr/bin/env python3
"""Server CPU per message, echo-server against the naive tokio server.

Alternates the two servers for ROUNDS rounds; each round starts the server
on 127.0.0.1:0, drives it with `echo-client bench` (64 B, CONNS connections,
1 s warm-up + 3 s measured) and reads the server's user and system CPU from
/proc/PID/stat. Build first: `cargo build --release -p netkit-echo` and
`cargo build -p xtask`. Usage: echo-server-cpu.py [CONNS] [ROUNDS]
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL = os.path.join(ROOT, "target", "release")
SERVERS = {
    "echo-server": [os.path.join(REL, "echo-server"), "--listen", "127.0.0.1:0"],
    "naive tokio": [os.path.join(ROOT, "target", "debug", "xtask"), "bench", "echo", "--serve-naive"],
}
TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def main():
    conns = sys.argv[1] if len(sys.argv) > 1 else "100"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rows = {name: [] for name in SERVERS}
    for _ in range(rounds):
        for name, cmd in SERVERS.items():
            server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            addr = server.stdout.readline().split()[-1]
            u0, s0 = cpu(server.pid)
            out = subprocess.run(
                [os.path.join(REL, "echo-client"), "bench", addr, "--json", "--quiet",
                 "--connections", conns, "--size", "64", "--duration", "3s",
                 "--warmup", "1s", "--timeout", "10s"],
                capture_output=True, text=True, check=True)
            u1, s1 = cpu(server.pid)
            server.kill()
            server.wait()
            report = json.loads(out.stdout.strip().splitlines()[-1])
            # CPU covers warm-up + measured time; scale messages to match.
            msgs = report["msgs"] * 4 / 3
            rows[name].append((report["msgs_per_sec"], (u1 - u0) * 1e6 / msgs, (s1 - s0) * 1e6 / msgs))
    for name, runs in rows.items():
        print(f"{name:12} msgs/s {[round(r[0]) for r in runs]}")
        print(f"{'':12} user us/msg {[round(r[1], 2) for r in runs]}  sys us/msg {[round(r[2], 2) for r in runs]}")


if __name__ == "__main__":
    main()
