"""The local AWS for tests and the demo: a moto server on 127.0.0.1 that can run state machines whose
tasks invoke real local functions.

Prints `READY http://127.0.0.1:<port>` once it answers requests. With --until-stdin-closes it stops
when its standard input closes, so a test process that dies (even by SIGKILL) never leaves a server
behind; otherwise it runs until SIGTERM/SIGINT.

moto serves every request, behind a small WSGI layer in the same server (`Router`) that adds:
- `POST /_local/functions/<name>` `{"endpoint": "http://127.0.0.1:<port>"}` (and `DELETE`): Lambda
  `Invoke` of function `<name>` (by name or ARN) goes to that `cargo lambda watch`, answered in
  Lambda's shape. moto's own Lambda cannot run our binaries, and its Step Functions interpreter sends
  a task's `Invoke` to `localhost:$MOTO_PORT`, which is set to this server's port.
- `POST /_local/slow-restores` `{"table": "<target>", "polls": N}`: a table restored under that name
  answers its first N `DescribeTable`s with `TableStatus: CREATING` (moto's restores finish at once,
  real ones take minutes).
State machine execution is on from the start.
"""

import argparse
import http.client
import json
import os
import re
import signal
import sys
import threading
from urllib.parse import unquote, urlsplit

try:
    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response
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


# Restored table name (or the start of one: a drill's scratch table is named at run time) -> how
# many DescribeTables answer CREATING; and, per restored table, how many are left.
SLOW_RESTORES: dict[str, int] = {}
_slow_left: dict[str, int] = {}
_slow_restores_lock = threading.Lock()


def serve_slow_restores() -> None:
    """Lets a restored table look `CREATING` for a while (see SLOW_RESTORES), so code that waits for
    a restore can be tested waiting."""
    from moto.dynamodb.models.table import RestoredPITTable, RestoredTable

    for cls in (RestoredTable, RestoredPITTable):
        original = cls.describe

        def describe(self, base_key="TableDescription", _original=original):  # type: ignore[no-untyped-def]
            result = _original(self, base_key=base_key)
            with _slow_restores_lock:
                polls = (n for start, n in SLOW_RESTORES.items() if self.name.startswith(start))
                left = _slow_left.setdefault(self.name, next(polls, 0))
                # Only DescribeTable asks for "Table"; the restore's own answer shows CREATING too.
                if left and base_key == "Table":
                    _slow_left[self.name] = left - 1
            if left:
                result[base_key]["TableStatus"] = "CREATING"
                result[base_key]["RestoreSummary"]["RestoreInProgress"] = True
            return result

        cls.describe = describe


INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class Router:
    """WSGI layer in front of moto: the `/_local/` endpoints and Invoke of registered functions."""

    def __init__(self, moto):  # type: ignore[no-untyped-def]
        self.moto = moto
        self.functions: dict[str, str] = {}  # function name -> its `cargo lambda watch` address

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        invoke = INVOKE.match(path)
        if invoke and method == "POST":
            endpoint = self.functions.get(function_name(unquote(invoke.group(1))))
            if endpoint:
                return invoke_watch(endpoint, Request(environ).get_data())(environ, start_response)
        if path.startswith("/_local/"):
            return self.local(method, path, Request(environ))(environ, start_response)
        # Untouched (its body unread), so moto sees the request exactly as sent.
        return self.moto(environ, start_response)

    def local(self, method: str, path: str, request: Request) -> Response:
        # Always read the body: werkzeug's server drains a body left unread by reading until the
        # client closes, while the client waits for the server to close after its answer.
        body = request.get_data()
        if path.startswith("/_local/functions/"):
            name = path.removeprefix("/_local/functions/")
            if method == "POST":
                self.functions[name] = json.loads(body)["endpoint"]
            elif method == "DELETE":
                self.functions.pop(name, None)
            return Response(status=204)
        if path == "/_local/slow-restores" and method == "POST":
            body = json.loads(body)
            with _slow_restores_lock:
                SLOW_RESTORES[body["table"]] = int(body["polls"])
            return Response(status=204)
        return Response(f"no local endpoint {method} {path}", status=404)


def function_name(name_or_arn: str) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`, `<account>:function:<name>`
    or `<name>[:<qualifier>]` -> `<name>`."""
    name = name_or_arn.split(":function:", 1)[-1]
    return name.split(":", 1)[0]


def invoke_watch(endpoint: str, payload: bytes) -> Response:
    """Invokes the function behind a `cargo lambda watch --only-lambda-apis`. Its binary was started
    by hand, which watch serves as the function `_`. watch answers a function error with HTTP 500;
    Lambda answers 200 with `X-Amz-Function-Error` and the error document (`errorType`,
    `errorMessage`) as the payload, which is what Step Functions turns into the task's error name."""
    address = urlsplit(endpoint)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=900)
    try:
        connection.request(
            "POST",
            "/2015-03-31/functions/_/invocations",
            body=payload,
            headers={"Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        body, status = answer.read(), answer.status
    except OSError as e:
        body = json.dumps({"Type": "Service", "message": f"{endpoint}: {e}"}).encode()
        return Response(body, status=502, headers={"X-Amzn-ErrorType": "ServiceException"})
    finally:
        connection.close()
    headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
    if status == 500:
        status, headers["X-Amz-Function-Error"] = 200, "Unhandled"
    return Response(body, status=status, headers=headers)


def serve(port: int = 0, host: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """Starts the server in a daemon thread; returns it (`server.port`, `server.shutdown()`)."""
    serve_settings_reads_moto_lacks()
    serve_slow_restores()
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    app = Router(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    # Read by moto's interpreter at each service call of a state machine: call this server back.
    os.environ["MOTO_PORT"] = str(server.port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()

    server = serve(args.port)
    print(f"READY http://{server.host}:{server.port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
