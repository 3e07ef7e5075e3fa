"""What an idempotency key costs in memory: the release binary's resident growth over COUNT creates
sent with an Idempotency-Key each, less its growth over COUNT creates without, per key.

Usage: python3 benches/load/keys.py BINARY [COUNT]   (COUNT: 50,000 by default)
"""

import http.client
import json
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def grown(binary, count, keyed):
    """The server's resident growth, in KiB, over `count` creates."""
    port = free_port()
    server = subprocess.Popen(
        [binary, "--addr", f"127.0.0.1:{port}", "--max-languages", str(count + 100),
         "--idempotency-max-keys", str(count + 100)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        before = resident_kib(server.pid)
        for i in range(count):
            body = json.dumps({"name": f"Key{i:07}", "publication_year": 1990,
                               "contribution": "a benchmark's own language"})
            headers = {"Content-Type": "application/json"}
            if keyed:
                headers["Idempotency-Key"] = f'"bench-{i:07}-8e03978e-40d5"'
            connection.request("POST", "/programming_languages", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 201, response.status
        return resident_kib(server.pid) - before
    finally:
        server.terminate()
        server.wait()


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    without = grown(binary, count, keyed=False)
    with_keys = grown(binary, count, keyed=True)
    print(f"{count} creates: resident +{without / 1024:.1f} MiB without keys, "
          f"+{with_keys / 1024:.1f} MiB with: {(with_keys - without) * 1024 / count:.0f} bytes a key")


if __name__ == "__main__":
    main()
