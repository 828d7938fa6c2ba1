"""Runs the loader benchmark end to end and writes docs/benchmarks.md. Started by tools/bench.sh.

Every measured run is its own process. Its CPU time comes from the kernel (wait4) and its peak RSS
from the process itself (VmHWM), the same way for the Rust loader and the Python reference. Every
load is verified by counting distinct keys at the endpoint (the sink's counters, or a Scan of the
moto table), and every load into the sink by its values too: the sink's digest of what it holds
against `bench expect`'s digest of the files.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from picture import timeline_svg  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "bench"
TABLE = "orders"
NUMBER_COLUMNS = "customer_id,amount"
COLUMN_TYPES = "customer_id:N,amount:N"
MIB = 1024 * 1024


class Server:
    """A child that prints `READY <url>` and stops when its standard input closes."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            sys.exit(f"{cmd[0]} did not start (printed {line!r})")
        self.url = line.split(" ", 1)[1]

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def measured(cmd, env):
    """Runs cmd; returns its JSON output (with its peak RSS) and the kernel's count of its CPU time."""
    return measured_together([cmd], env)[0]


def measured_together(cmds, env):
    """Runs the commands at once; returns each one's JSON output and CPU time, as `measured`."""
    errs = [tempfile.TemporaryFile() for _ in cmds]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
             for cmd, err in zip(cmds, errs)]
    results = []
    for cmd, proc, err in zip(cmds, procs, errs):
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"{' '.join(map(str, cmd))} failed:\n{err.read().decode(errors='replace')}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        result["cpu_s"] = usage.ru_utime + usage.ru_stime
        results.append(result)
        err.close()
    return results


def sink_stats(sink):
    with urllib.request.urlopen(f"{sink.url}/stats") as response:
        return json.load(response)


def sink_timeline(sink):
    with urllib.request.urlopen(f"{sink.url}/timeline") as response:
        return json.load(response)


FENCED = "ddb-guard loader, fenced"
STATE_TABLE = "ddb-guard-bench-state"


def aws_env(moto_url, dynamodb_url):
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TABLE_NAMES": TABLE,
        "COLUMN_TYPES": COLUMN_TYPES,
        "BUCKET_NAME": BUCKET,
    })
    return env


def moto_count(dynamodb, table):
    count, start = 0, None
    while True:
        args = {"TableName": table, "Select": "COUNT"}
        if start:
            args["ExclusiveStartKey"] = start
        page = dynamodb.scan(**args)
        count += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return count


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    memory_kib = next(int(line.split()[1]) for line in open("/proc/meminfo")
                      if line.startswith("MemTotal"))
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} cores, {memory_kib / MIB:.0f} GiB RAM, "
            f"Linux {platform.release()} ({platform.machine()}); {rustc}; "
            f"Python {platform.python_version()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", required=True, help="the release `bench` binary")
    parser.add_argument("--function", required=True, help="the host release csv-loader binary")
    parser.add_argument("--lambda-dir", required=True, help="cargo lambda's arm64 output folder")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--capacity", type=int, default=5_000, help="write units per second")
    parser.add_argument("--loaders", type=int, default=3,
                        help="loaders sharing the capacity in the shared-capacity run")
    parser.add_argument("--python-rows", type=int, default=200_000,
                        help="the Python reference's file without a limit (it runs at ~5k rows/s)")
    parser.add_argument("--python-capacity-rows", type=int, default=100_000)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    parser.add_argument("--command", default="tools/bench.sh")
    args = parser.parse_args()
    bench = args.bench
    python = sys.executable
    reference = str(ROOT / "tools/bench/reference_loader.py")
    work = Path(tempfile.mkdtemp(prefix="ddb-guard-bench-"))

    files = {}
    for rows in sorted({args.small_rows, args.python_rows, args.python_capacity_rows, args.rows}):
        path = work / f"orders-{rows}.csv"
        subprocess.run([bench, "generate", "--rows", str(rows), "--out", str(path)], check=True)
        files[rows] = path
        print(f"generated {path} ({path.stat().st_size / MIB:.1f} MiB)", flush=True)
    # The fan-out's pass over a file whose every key is on two rows, half a file apart.
    half = work / "half.csv"
    subprocess.run([bench, "generate", "--rows", str(args.rows // 2), "--out", str(half)],
                   check=True)
    twice = work / f"twice-{args.rows}.csv"
    lines = half.read_text().splitlines(keepends=True)
    twice.write_text("".join(lines + lines[1:]))
    # The shared-capacity run: `rows` split into one file per loader, none sharing a key.
    parts = []
    for i in range(args.loaders):
        first_row = i * args.rows // args.loaders
        part_rows = (i + 1) * args.rows // args.loaders - first_row
        path = work / f"part-{i + 1}.csv"
        subprocess.run([bench, "generate", "--rows", str(part_rows), "--first-row",
                        str(first_row), "--out", str(path)], check=True)
        parts.append(path)

    def expected(paths):
        out = subprocess.run([bench, "expect"] + [str(p) for p in paths], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    moto = Server([python, str(ROOT / "tools/local_aws.py"), "--until-stdin-closes"])
    env = aws_env(moto.url, moto.url)
    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    dynamodb = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket=BUCKET)
    for rows, path in files.items():
        s3.upload_file(str(path), BUCKET, f"incoming/orders-{rows}.csv")
    for path in parts:
        s3.upload_file(str(path), BUCKET, f"incoming/{path.name}")
    s3.upload_file(str(ROOT / "events/order_data.csv"), BUCKET, "incoming/order_data.csv")
    s3.upload_file(str(twice), BUCKET, f"incoming/{twice.name}")

    results = []

    def record(name, endpoint, rows, run, verified, values="not checked"):
        run.update(name=name, endpoint=endpoint, file_rows=rows, verified=verified, values=values)
        results.append(run)
        print(f"{name:<34} {endpoint:<22} {rows:>9} rows  {run['rows_per_s']:>10,.0f} rows/s  "
              f"cpu {run['cpu_s']:.2f} s  rss {run['peak_rss_mib']:.1f} MiB  "
              f"verified {verified}, values {values}", flush=True)

    def values_check(stats, paths):
        want = expected(paths)
        ok = (stats["values_digest"] == want["values_digest"]
              and stats["distinct_keys"] == want["distinct_keys"])
        return "all match" if ok else "**differ**"

    record("parse + convert (1 core)", "none", args.rows,
           measured([bench, "parse", str(files[args.rows])], env), args.rows)

    splits = []
    sink = Server([bench, "sink"])  # the table's key schema (DescribeTable)
    for what, path in [("unique keys", files[args.rows]), ("every key twice", twice)]:
        run = measured([bench, "part", BUCKET, f"incoming/{path.name}"],
                       dict(aws_env(moto.url, sink.url), FAN_OUT_PARTS="8"))
        run.update(file=what, rows=args.rows, mib=path.stat().st_size / MIB)
        splits.append(run)
        print(f"one part of {run['parts']}, {what}: {run['elapsed_s']:.2f} s, "
              f"{run['items']:,} items written, rss {run['peak_rss_mib']:.1f} MiB", flush=True)
    sink.stop()

    def against_sink(name, loader_cmd, rows, capacity=None, extra_env=None):
        sink_cmd = [bench, "sink"] + (["--capacity", str(capacity)] if capacity else [])
        sink = Server(sink_cmd)
        try:
            run = measured(loader_cmd, dict(aws_env(moto.url, sink.url), **(extra_env or {})))
            stats = sink_stats(sink)
            run["timeline"] = sink_timeline(sink)
        finally:
            sink.stop()
        run["sink"] = stats
        where = f"sink, {capacity:,} WCU/s" if capacity else "sink, no limit"
        record(name, where, rows, run, stats["distinct_keys"], values_check(stats, [files[rows]]))

    def sharing_sink(rows, capacity):
        """`args.loaders` loaders at once, one file each, into one table's capacity."""
        sink = Server([bench, "sink", "--capacity", str(capacity)])
        try:
            cmds = [[bench, "load", BUCKET, f"incoming/{p.name}"] for p in parts]
            runs = measured_together(cmds, aws_env(moto.url, sink.url))
            stats = sink_stats(sink)
            timeline = sink_timeline(sink)
        finally:
            sink.stop()
        run = {
            "rows": sum(r["rows"] for r in runs),
            "elapsed_s": max(r["elapsed_s"] for r in runs),
            "rows_per_s": sum(r["rows"] for r in runs) / max(r["elapsed_s"] for r in runs),
            "cpu_s": sum(r["cpu_s"] for r in runs),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "rows_rejected": sum(r["rows_rejected"] for r in runs),
            "items_failed": sum(r["items_failed"] for r in runs),
            "hand_overs": sum(r["hand_overs"] for r in runs),
            "timeline": timeline,
            "sink": stats,
        }
        record(f"{args.loaders} ddb-guard loaders at once", f"sink, {capacity:,} WCU/s", rows,
               run, stats["distinct_keys"], values_check(stats, parts))

    def rust(rows):
        return [bench, "load", BUCKET, f"incoming/orders-{rows}.csv"]

    def reference_loader(rows):
        return [python, reference, BUCKET, f"incoming/orders-{rows}.csv", TABLE, NUMBER_COLUMNS]

    against_sink("ddb-guard loader", rust(args.small_rows), args.small_rows)
    against_sink("ddb-guard loader", rust(args.rows), args.rows)
    # The fenced path: pinned, claimed in a state table (moto's), the holder record asked before
    # the writes; the writes go to the sink as above.
    dynamodb.create_table(
        TableName=STATE_TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    against_sink(FENCED, [bench, "load-fenced", BUCKET, f"incoming/orders-{args.rows}.csv"],
                 args.rows, extra_env={"STATE_TABLE": STATE_TABLE, "STATE_ENDPOINT": moto.url})
    against_sink("ddb-guard loader", rust(args.rows), args.rows, args.capacity)
    sharing_sink(args.rows, args.capacity)
    against_sink("Python reference (batch_writer)", reference_loader(args.python_rows),
                 args.python_rows)
    against_sink("Python reference (batch_writer)", reference_loader(args.python_capacity_rows),
                 args.python_capacity_rows, args.capacity)

    for name, cmd in [("ddb-guard loader", rust(args.small_rows)),
                      ("Python reference (batch_writer)", reference_loader(args.small_rows))]:
        dynamodb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"},
                       {"AttributeName": "item_id", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"},
                                  {"AttributeName": "item_id", "AttributeType": "S"}])
        run = measured(cmd, env)
        record(name, "moto", args.small_rows, run, moto_count(dynamodb, TABLE))
        dynamodb.delete_table(TableName=TABLE)

    event = work / "cold-start-event.json"
    event.write_text(json.dumps({"bucket": BUCKET, "key": "incoming/order_data.csv"}))
    sink = Server([bench, "sink"])
    try:
        out = subprocess.run([bench, "cold-start", "--event", str(event), "--runs", "10", "--",
                              args.function], env=aws_env(moto.url, sink.url), check=True,
                             capture_output=True, text=True).stdout
    finally:
        sink.stop()
    cold = json.loads(out.strip().splitlines()[-1])
    print(f"cold start: median init {cold['median_init_ms']:.1f} ms, first event handled "
          f"{cold['median_first_event_ms']:.1f} ms", flush=True)
    moto.stop()

    sizes = {}
    for function in ["csv-loader", "backup-trigger", "restore-handler", "backup-notifier"]:
        binary = Path(args.lambda_dir) / function / "bootstrap"
        sizes[function] = binary.stat().st_size / 1e6
    write_report(args, results, splits, cold, sizes)


def first(results, name, endpoint, rows):
    return next(r for r in results
                if r["name"] == name and r["endpoint"] == endpoint and r["file_rows"] == rows)


def write_report(args, results, splits, cold, sizes):
    out = Path(args.out)
    analysis = ""
    if out.exists() and "\n## Analysis\n" in out.read_text():
        analysis = "## Analysis\n" + out.read_text().split("\n## Analysis\n", 1)[1]

    ours = "ddb-guard loader"
    ref = "Python reference (batch_writer)"
    capped = f"sink, {args.capacity:,} WCU/s"
    fast = first(results, ours, "sink, no limit", args.rows)
    slow = first(results, ref, "sink, no limit", args.python_rows)
    limited = first(results, ours, capped, args.rows)
    shared = first(results, f"{args.loaders} ddb-guard loaders at once", capped, args.rows)
    small = first(results, ours, "sink, no limit", args.small_rows)
    fenced = first(results, FENCED, "sink, no limit", args.rows)
    fence_cost = fenced["elapsed_s"] / fast["elapsed_s"] - 1

    def utilised(run):
        return run["sink"]["write_units"] / (run["elapsed_s"] * args.capacity)

    utilisation = utilised(limited)
    lost = args.rows - limited["verified"]
    shared_lost = args.rows - shared["verified"]
    all_values = all(r["values"] == "all match" for r in results if r["values"] != "not checked")
    rss_ratio = fast["peak_rss_mib"] / small["peak_rss_mib"]
    speedup = fast["rows_per_s"] / slow["rows_per_s"]
    csv_loader_mb = sizes["csv-loader"]

    def met(ok):
        return "yes" if ok else "**no**"

    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today()} with `{args.command}` on {machine()}.",
        "",
        f"Files: generated seed-format CSVs (`bench generate`): unique keys, quoted and non-ASCII "
        f"product names, `{COLUMN_TYPES}`. Every run is a fresh process; CPU time is the kernel's "
        "(`wait4`), peak RSS the process's own high-water mark (`VmHWM`). *Verified* is the number "
        "of distinct keys the endpoint holds afterwards (sink counters, or a Scan of the moto "
        "table); *values* compares the sink's digest of every item it holds with `bench expect`'s "
        "digest of the files (read with the `csv` crate, not the loader's code). The sink counts "
        "capacity in write units (1 KB of item each) and returns the excess of a batch as a random "
        "subset, as DynamoDB does. The S3 source is moto in every run; the loaders run with their "
        "defaults.",
        "",
        "## Loads",
        "",
        "| loader | DynamoDB endpoint | rows | rows/s | elapsed s | CPU s | peak RSS MiB | verified "
        "| values |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['endpoint']} | {r['file_rows']:,} | "
                     f"{r['rows_per_s']:,.0f} | {r['elapsed_s']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['peak_rss_mib']:.1f} | {r['verified']:,} | {r['values']} |")
    lines += [
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| vs sink, no limit: ≥ 10x the Python reference | {speedup:.1f}x | {met(speedup >= 10)} |",
        f"| vs sink, no limit: ≥ 150,000 rows/s | {fast['rows_per_s']:,.0f} rows/s | "
        f"{met(fast['rows_per_s'] >= 150_000)} |",
        f"| vs sink at {args.capacity:,} WCU/s: ≥ 90 % of capacity over {args.rows:,} rows | "
        f"{utilisation:.1%} | {met(utilisation >= 0.9)} |",
        f"| ... zero rows lost, every key once | {lost} lost, {limited['rows_rejected']} rejected, "
        f"{limited.get('items_failed', 0)} failed | {met(lost == 0 and limited['rows_rejected'] == 0)} |",
        f"| {args.loaders} loaders sharing {args.capacity:,} WCU/s: ≥ 90 % of capacity together "
        f"over {args.rows:,} rows | {utilised(shared):.1%} | {met(utilised(shared) >= 0.9)} |",
        f"| ... zero rows lost or failed | {shared_lost} lost, {shared['rows_rejected']} rejected, "
        f"{shared['items_failed']} failed ({shared['hand_overs']} hand-overs) | "
        f"{met(shared_lost == 0 and shared['items_failed'] == 0)} |",
        f"| every item's values as the file says (every sink run) | "
        f"{'all match' if all_values else 'differ'} | {met(all_values)} |",
        f"| peak RSS ≤ 64 MiB | {fast['peak_rss_mib']:.1f} MiB | {met(fast['peak_rss_mib'] <= 64)} |",
        f"| peak RSS {args.rows:,} rows ≤ 1.2x {args.small_rows:,} rows | {rss_ratio:.2f}x | "
        f"{met(rss_ratio <= 1.2)} |",
        f"| cold start to first handled event ≤ 50 ms (median of {cold['runs']}) | "
        f"{cold['median_first_event_ms']:.1f} ms (init {cold['median_init_ms']:.1f} ms) | "
        f"{met(cold['median_first_event_ms'] <= 50)} |",
        f"| csv-loader arm64 release binary ≤ 12 MB | {csv_loader_mb:.1f} MB | "
        f"{met(csv_loader_mb <= 12)} |",
        "",
        "Cold start: the host's release `csv-loader` started against a minimal Lambda Runtime API "
        "(`bench cold-start`), timed from process start to its first `next` request (init: "
        "configuration, SDK clients, `DescribeTable`) and to its posted response (the first event, "
        "a 40-row `order_data.csv`, loaded).",
        "",
        "Binary sizes (arm64, `cargo lambda build --release --arm64`): "
        + ", ".join(f"{name} {mb:.1f} MB" for name, mb in sizes.items()) + ".",
        "",
    ]
    lines[-1:-1] = [
        "",
        "## The fenced path",
        "",
        "As the function runs with its state table: the load pinned to its version, the object "
        "claimed in the state table (moto's here), and the holder record read before the writes "
        "(at most once a second, shared by the writers in flight), the writes going to the sink. "
        "The same file, the same sink, the same machine, one run after the other:",
        "",
        "| path | rows | rows/s | elapsed s | CPU s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
        f"| unfenced (`bench load`) | {fast['file_rows']:,} | {fast['rows_per_s']:,.0f} | "
        f"{fast['elapsed_s']:.2f} | {fast['cpu_s']:.2f} | {fast['peak_rss_mib']:.1f} |",
        f"| fenced (`bench load-fenced`) | {fenced['file_rows']:,} | {fenced['rows_per_s']:,.0f} | "
        f"{fenced['elapsed_s']:.2f} | {fenced['cpu_s']:.2f} | {fenced['peak_rss_mib']:.1f} |",
        "",
        f"The fence costs {fence_cost:+.1%} of the unfenced load's time.",
        "",
        "## One part of a fanned-out load",
        "",
        "Each part of a fanned-out load reads the whole file and writes only the rows whose key "
        "hashes to it (`bench part`: part 1 of 8, the file in moto's S3, writing to the sink). "
        "Rows/s counts the rows the part read through.",
        "",
        "| file | rows | MiB | rows/s | elapsed s | CPU s | peak RSS MiB | parts | items written |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ] + [
        f"| {r['file']} | {r['rows']:,} | {r['mib']:.1f} | {r['rows'] / r['elapsed_s']:,.0f} | "
        f"{r['elapsed_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mib']:.1f} | {r['parts']} | "
        f"{r['items']:,} |"
        for r in splits
    ]
    picture = out.parent / "capacity-run.svg"
    shared_picture = out.parent / "capacity-run-shared.svg"
    title = (f"ddb-guard loader, {args.rows:,} rows into a table of {args.capacity:,} "
             f"WCU/s (the sink's view, per second)")
    shared_title = (f"{args.loaders} ddb-guard loaders at once, {args.rows:,} rows in all, one "
                    f"table of {args.capacity:,} WCU/s")
    lines[-1:-1] = [
        "",
        "## The capacity-limited runs, second by second",
        "",
        f"![Items written per second and write requests in flight]({picture.name})",
        "",
        f"![The same with {args.loaders} loaders sharing the capacity]({shared_picture.name})",
        "",
        "What the table saw while one loader, then three at once, wrote at its capacity: items "
        "written each second against the capacity, and the most write requests in flight in each "
        "second (each loader's adaptive limit starts at 2, doubles until the table first "
        "throttles, then climbs by one while writes go through and halves on throttling). Drawn "
        "by `tools/bench.sh` from the sink's `/timeline`.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.write_text(timeline_svg(limited["timeline"], args.capacity, title))
    shared_picture.write_text(timeline_svg(shared["timeline"], args.capacity, shared_title))
    out.write_text("\n".join(lines) + ("\n" + analysis if analysis else ""))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
