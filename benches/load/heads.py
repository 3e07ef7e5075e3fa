"""Resident memory under half-sent request heads: COUNT connections each send KIB KiB of a head
and never end it, as a client that means to hold memory would: 60 KiB is just under the 64 KiB
limit (the server holds it), 390 KiB is what hyper's default buffer would hold (the server refuses
it past 64 KiB with a 431 and closes). The server's resident memory is read before, while they are
all open, and after they are gone.

    python3 benches/load/heads.py target/release/prog-lang-api [COUNT [KIB]]
"""

import socket
import subprocess
import sys
import time

from startup import first_answer, free_port, resident_kib


def main(binary, count, kib):
    port = free_port()
    server = subprocess.Popen(
        [binary, "--addr", f"127.0.0.1:{port}", "--max-connections", str(count + 10),
         "--header-read-timeout", "60"],
        stderr=subprocess.DEVNULL,
        env={"RUST_LOG": "error"},
    )
    try:
        first_answer(port, time.perf_counter())
        time.sleep(0.5)
        before = resident_kib(server.pid)
        head = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nX-Filler: " + b"a" * (kib * 1024)
        sockets = []
        for _ in range(count):
            connection = socket.create_connection(("127.0.0.1", port))
            connection.settimeout(2)
            try:
                connection.sendall(head)
            except OSError:
                pass  # refused past the limit
            sockets.append(connection)
        time.sleep(2)
        held = resident_kib(server.pid)
        for connection in sockets:
            connection.close()
        time.sleep(2)
        after = resident_kib(server.pid)
        print(f"{count} half-sent heads of {kib} KiB: resident {before / 1024:.1f} MiB before, "
              f"{held / 1024:.1f} MiB while open ({(held - before) / count:.0f} KiB a connection), "
              f"{after / 1024:.1f} MiB after they closed")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main(
        sys.argv[1],
        int(sys.argv[2]) if len(sys.argv) > 2 else 300,
        int(sys.argv[3]) if len(sys.argv) > 3 else 60,
    )
