"""The demo: starts a local AWS, loads events/order_data.csv with the csv-loader through the real
Lambda runtime (cargo lambda), shows what landed in the table, backs the table up with the
backup-trigger, restores that backup into a new table with the restore-handler, runs a restore drill
(restore, check, report, delete) and prints its report, turns a failed AWS Backup job event into an
alert with the backup-notifier, and stops everything.

Run by tools/demo.sh, which installs the tools and builds the functions first.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import serve_settings_reads_moto_lacks  # noqa: E402  (the tests' local AWS)

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
REGION = "us-east-1"
BUCKET = "ddb-guard-demo"
TABLE = "order_transaction-demo"
STATE_TABLE = "ddb-guard-demo-state"


def step(message):
    print(f"\n==> {message}", flush=True)


@contextmanager
def local_aws():
    serve_settings_reads_moto_lacks()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cargo_lambda_env():
    return {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}


@contextmanager
def running(command, env, output=subprocess.DEVNULL):
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def lambda_function(binary, endpoint, env):
    """`cargo lambda watch` serving the Runtime API, and the function's binary attached to it."""
    port = free_port()
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [VENV_BIN / "cargo-lambda", "lambda", "watch", "--only-lambda-apis",
                 "--invoke-address", "127.0.0.1", "--invoke-port", str(port)],
                cargo_lambda_env(),
            )
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("cargo lambda watch did not start")
                time.sleep(0.1)
        function_env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": f"ddb-guard-demo-{binary}",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            **env,
        }
        logs = stack.enter_context(tempfile.TemporaryFile(mode="w+"))
        stack.enter_context(running([TARGET / "debug" / binary], function_env, logs))
        yield port, logs


def invoke(port, event_file):
    print(f"$ cargo lambda invoke --data-file events/{event_file}")
    result = subprocess.run(
        [VENV_BIN / "cargo-lambda", "lambda", "invoke", "--invoke-address", "127.0.0.1",
         "--invoke-port", str(port), "--output-format", "json",
         "--data-file", ROOT / "events" / event_file],
        cwd=ROOT, env=cargo_lambda_env(), capture_output=True, text=True,
    )
    if result.returncode != 0:
        sys.exit(f"invoke failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout)


def print_metric_lines(lines):
    """The function's metric records (CloudWatch embedded metric format), as CloudWatch reads them."""
    def is_metric(line):
        try:
            return "_aws" in json.loads(line)
        except ValueError:
            return False

    metrics = [line.strip() for line in lines if is_metric(line)]
    print("metric lines:", *metrics, sep="\n  ")
    if not metrics:
        sys.exit("the function wrote no metric line")


def demo_csv_loader(endpoint):
    s3, dynamodb = client("s3", endpoint), client("dynamodb", endpoint)

    step(f"csv-loader: bucket {BUCKET} (versioned, as the stack's), table {TABLE} "
         "(order_id + item_id, both strings), state table {STATE_TABLE}")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    create_state_table(dynamodb)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"},
                   {"AttributeName": "item_id", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"},
                              {"AttributeName": "item_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    s3.upload_file(str(ROOT / "events" / "order_data.csv"), BUCKET, "incoming/order_data.csv")
    print(f"uploaded events/order_data.csv to s3://{BUCKET}/incoming/order_data.csv")

    env = {"TABLE_NAMES": TABLE, "BUCKET_NAME": BUCKET, "STATE_TABLE": STATE_TABLE,
           "DEFAULT_OBJECT_KEY": "incoming/order_data.csv",
           "COLUMN_TYPES": "customer_id:N,amount:N"}
    with lambda_function("csv-loader", endpoint, env) as (port, logs):
        step("csv-loader: the S3 ObjectCreated event, through the Lambda runtime")
        response = invoke(port, "csv-loader/s3-put-order-data.json")
        print(json.dumps(response, indent=2, ensure_ascii=False))
        logs.seek(0)
        lines = logs.readlines()
        summaries = [line.strip() for line in lines if "csv load summary" in line]
        print("logged:", *summaries, sep="\n  ")
        print_metric_lines(lines)

    step("csv-loader: a few items as DynamoDB holds them (note amount and customer_id are N)")
    for key in [("3801", "23"), ("3802", "38"), ("3804", "26")]:
        item = dynamodb.get_item(
            TableName=TABLE, Key={"order_id": {"S": key[0]}, "item_id": {"S": key[1]}}
        )["Item"]
        print(json.dumps(dict(sorted(item.items())), ensure_ascii=False))
    count = dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"]
    print(f"{count} items in {TABLE}")

    file = response["files"][0]
    if file["items_written"] != count or not file["complete"]:
        sys.exit("the summary and the table disagree")


def demo_backup_trigger(endpoint):
    dynamodb = client("dynamodb", endpoint)
    env = {"TABLE_NAMES": TABLE, "RETENTION_DAYS": "35", "KEEP_LAST": "3", "BACKUP_OWNER": "demo"}
    with lambda_function("backup-trigger", endpoint, env) as (port, logs):
        step("backup-trigger: back up now (a console test with {}), through the Lambda runtime")
        response = invoke(port, "backup-trigger/console-test.json")
        logs.seek(0)
        print_metric_lines(logs.readlines())
    print(json.dumps(response, indent=2))
    step(f"backup-trigger: the backups of {TABLE}")
    for backup in dynamodb.list_backups(TableName=TABLE)["BackupSummaries"]:
        print(f"{backup['BackupName']}  {backup['BackupStatus']}  {backup['BackupSizeBytes']} bytes")
    if not response["tables"][0].get("backup_arn"):
        sys.exit("no backup was taken")


def create_state_table(dynamodb):
    """The stack's state table (`StateTable` in the template)."""
    dynamodb.create_table(
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def demo_restore_handler(endpoint):
    dynamodb, s3 = client("dynamodb", endpoint), client("s3", endpoint)
    env = {"SOURCE_TABLE": TABLE, "POLL_SECONDS": "1", "STATE_TABLE": STATE_TABLE,
           "DRILL_BUCKET": BUCKET}
    with lambda_function("restore-handler", endpoint, env) as (port, _):
        step("restore-handler: restore the newest backup into a new table, through the Lambda runtime")
        response = invoke(port, "restore-handler/restore-latest-backup.json")
        print(json.dumps(response, indent=2))
        step("restore-handler: a restore drill (restore, check, report, delete the scratch table)")
        drill = invoke(port, "restore-handler/drill.json")
    target = response["target_table"]
    counts = {table: dynamodb.scan(TableName=table, Select="COUNT")["Count"] for table in (TABLE, target)}
    step("restore-handler: item counts")
    for table, count in counts.items():
        print(f"{count:>4} items in {table}")
    if len(set(counts.values())) != 1 or not response["verification"]["matches"]:
        sys.exit("the restored table does not match")

    report = drill["tables"][0]["report"]
    step(f"restore-handler: the drill's report, as kept in {report['report_location']}")
    key = report["report_location"].split(f"s3://{BUCKET}/", 1)[1]
    kept = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    print(json.dumps(kept, indent=2))
    for check in kept["checks"]:
        print(f"  {'pass' if check['passed'] else 'FAIL'}  {check['name']}: {check['detail']}")
    scratch = report["scratch_table"]
    left = scratch in dynamodb.list_tables()["TableNames"]
    print(f"scratch table {scratch}: {'still there' if left else 'deleted'}")
    if not kept["passed"] or left:
        sys.exit("the drill failed")


def demo_backup_notifier(endpoint):
    sns, sqs = client("sns", endpoint), client("sqs", endpoint)
    topic = sns.create_topic(Name="ddb-guard-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="ddb-guard-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    env = {"TOPIC_ARN": topic, "WATCH_TABLE_NAMES": TABLE, "WATCH_AWS_BACKUP": "false"}
    with lambda_function("backup-notifier", endpoint, env) as (port, _):
        step("backup-notifier: an AWS Backup job failed (events/backup-notifier/backup-job-failed.json)")
        print(json.dumps(invoke(port, "backup-notifier/backup-job-failed.json")))
    step("backup-notifier: the alert, as a subscriber of the SNS topic receives it")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    if not messages:
        sys.exit("no alert arrived")
    for message in messages:
        envelope = json.loads(message["Body"])
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        print(f"Subject: {envelope['Subject']}\nAttributes: {attributes}\n\n{envelope['Message']}")


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    step("starting the local AWS (moto)")
    with local_aws() as endpoint:
        print(f"listening on {endpoint}")
        demo_csv_loader(endpoint)
        demo_backup_trigger(endpoint)
        demo_restore_handler(endpoint)
        demo_backup_notifier(endpoint)
        step("stopping the local AWS")
    print("demo finished")


if __name__ == "__main__":
    main()
