#!/usr/bin/env python3
"""Throughput and CPU per message of echo servers and of the load generator.

Alternates the servers for ROUNDS rounds; each round starts each server on
127.0.0.1:0, drives it with `echo-client bench` (64 B, CONNS connections,
PIPELINE messages in flight, 1 s warm-up + DURATION measured) and reads the
server's user + system CPU from /proc/PID/stat and the client's from its
rusage, each divided by the messages the client sent. CPU per message is
disturbed far less by other load on the box than throughput is.

Build first: `cargo build --release -p netkit-echo` and `cargo build -p xtask`.

Usage: echo-server-cpu.py [CONNS] [ROUNDS] [PIPELINE] [SERVERS] [CLIENT-ARGS]
  SERVERS: comma list of echo, echo1 (--threads 1), naive, asyncio
           (default echo,naive)
  CLIENT-ARGS: extra echo-client bench flags, e.g. "--write-each"
  DURATION: environment variable DUR (default 3s)
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL = os.path.join(ROOT, "target", "release")
TICK = os.sysconf("SC_CLK_TCK")

ASYNCIO = """
import asyncio

async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def servers(script):
    echo = [os.path.join(REL, "echo-server"), "--listen", "127.0.0.1:0"]
    return {
        "echo": echo,
        "echo1": echo + ["--threads", "1"],
        "naive": [os.path.join(ROOT, "target", "debug", "xtask"), "bench", "echo", "--serve-naive"],
        "asyncio": ["python3", script],
    }


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main():
    conns = sys.argv[1] if len(sys.argv) > 1 else "100"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pipeline = sys.argv[3] if len(sys.argv) > 3 else "1"
    names = (sys.argv[4] if len(sys.argv) > 4 else "echo,naive").split(",")
    extra = sys.argv[5].split() if len(sys.argv) > 5 else []
    duration = os.environ.get("DUR", "3s")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(ASYNCIO)
        script = f.name
    commands = servers(script)
    rows = {name: [] for name in names}
    try:
        for r in range(rounds):
            for name in names:
                server = subprocess.Popen(commands[name], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
                addr = server.stdout.readline().split()[-1]
                s0, c0 = cpu(server.pid), children_cpu()
                out = subprocess.run(
                    [os.path.join(REL, "echo-client"), "bench", addr, "--json", "--quiet",
                     "--connections", conns, "--pipeline", pipeline, "--size", "64",
                     "--duration", duration, "--warmup", "1s", "--timeout", "10s"] + extra,
                    capture_output=True, text=True, check=True)
                s1, c1 = cpu(server.pid), children_cpu()
                server.kill()
                server.wait()
                report = json.loads(out.stdout)
                sent = max(report["sent"], 1)
                row = (report["msgs_per_sec"], (s1 - s0) * 1e6 / sent, (c1 - c0) * 1e6 / sent)
                rows[name].append(row)
                print(f"round {r} {name:8} {row[0]:>9.0f} msgs/s  server {row[1]:.2f} us/msg"
                      f"  client {row[2]:.2f} us/msg", flush=True)
    finally:
        os.unlink(script)
    first = statistics.median(x[0] for x in rows[names[0]])
    for name, runs in rows.items():
        med = statistics.median(x[0] for x in runs)
        print(f"{name:8} median {med:.0f} msgs/s ({med / max(first, 1):.2f}x {names[0]})"
              f"  server {statistics.median(x[1] for x in runs):.2f} us/msg"
              f"  client {statistics.median(x[2] for x in runs):.2f} us/msg"
              f"  runs {[round(x[0]) for x in runs]}")


if __name__ == "__main__":
    main()
