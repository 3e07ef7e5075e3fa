"""Start to first answer and idle memory of the release binary: it is started, asked for /healthz
in a tight loop until it answers, and its resident memory read once it has answered and idles.

    python3 benches/load/startup.py target/release/prog-lang-api [RUNS]
"""

import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_answer(port, started, limit=5.0):
    request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    while time.perf_counter() - started < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(request)
                if connection.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - started
        except OSError:
            time.sleep(0.0002)
    raise SystemExit("the server did not answer within 5 s")


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times, residents = [], []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [binary, "--addr", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL
        )
        try:
            times.append(first_answer(port, started) * 1000)
            time.sleep(0.5)
            residents.append(resident_kib(server.pid) / 1024)
        finally:
            server.terminate()
            server.wait()
    print(
        f"start to first answer: median {statistics.median(times):.1f} ms, "
        f"max {max(times):.1f} ms over {runs} starts"
    )
    print(
        f"idle resident memory: median {statistics.median(residents):.1f} MiB, "
        f"max {max(residents):.1f} MiB"
    )


if __name__ == "__main__":
    main()
