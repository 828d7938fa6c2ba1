"""The classic Python loader, for comparison only: boto3's Table.batch_writer(), one request at a time.

    reference_loader.py BUCKET KEY TABLE NUMBER_COLUMNS

Streams the object, types the numeric columns as Decimal (as boto3 requires), leaves out blank cells,
and prints one JSON line. Endpoints and credentials come from the environment (AWS_ENDPOINT_URL...).
"""

import codecs
import csv
import json
import sys
import time
from decimal import Decimal

import boto3


def main() -> None:
    bucket, key, table_name, number_columns = sys.argv[1:5]
    numbers = {c for c in number_columns.split(",") if c}
    table = boto3.resource("dynamodb").Table(table_name)
    started = time.perf_counter()
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    rows = csv.DictReader(codecs.getreader("utf-8-sig")(body))
    count = 0
    with table.batch_writer() as batch:
        for row in rows:
            item = {k: Decimal(v) if k in numbers else v for k, v in row.items() if v != ""}
            batch.put_item(Item=item)
            count += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"rows": count, "items": count, "elapsed_s": elapsed,
                      "rows_per_s": count / elapsed, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """VmHWM: getrusage's ru_maxrss would count the memory of the parent this was forked from."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib / 1024


if __name__ == "__main__":
    main()
