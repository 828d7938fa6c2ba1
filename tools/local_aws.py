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


def serve_settings_reads_moto_lacks() -> None:
    """moto cannot turn on Contributor Insights or a Kinesis streaming destination, so on its tables
    both are off; answer the two reads with that truth instead of a server error. Turning them on
    stays unserved (tests play those with aws-smithy-mocks)."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    def describe_contributor_insights(self):  # type: ignore[no-untyped-def]
        name = self.body["TableName"]
        self.dynamodb_backend.get_table(name)  # ResourceNotFoundException when missing
        answer = {"TableName": name, "ContributorInsightsStatus": "DISABLED"}
        if "IndexName" in self.body:
            answer["IndexName"] = self.body["IndexName"]
        return ActionResult(answer)

    def describe_kinesis_streaming_destination(self):  # type: ignore[no-untyped-def]
        name = self.body["TableName"]
        self.dynamodb_backend.get_table(name)
        return ActionResult({"TableName": name, "KinesisDataStreamDestinations": []})

    DynamoHandler.describe_contributor_insights = describe_contributor_insights
    DynamoHandler.describe_kinesis_streaming_destination = describe_kinesis_streaming_destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()

    serve_settings_reads_moto_lacks()
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
