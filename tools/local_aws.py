"""The local AWS for tests and the demo: a moto server on 127.0.0.1.

Prints `READY http://127.0.0.1:<port>` once it answers requests. With --until-stdin-closes it stops
when its standard input closes, so a test process that dies (even by SIGKILL) never leaves a server
behind; otherwise it runs until SIGTERM/SIGINT.
"""

import argparse
import signal
import sys
import threading

try:
    from moto.server import ThreadedMotoServer
except ImportError:  # pragma: no cover - the message is the point
    sys.exit(
        "moto is not installed: run `tools/setup.sh` "
        "(or `python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt`)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"READY http://{host}:{port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
