"""Removes what `sam delete` leaves of a ddb-guard stack: the data bucket (emptied, every version),
the demo table (only the one the stack made), the vault once its recovery points have expired, and,
when asked, the native backups the stack took. Says what it cannot remove yet, and when.

Usage: tools/teardown.sh STACK [--delete-native-backups]

Only names this stack made are touched: `<stack>-data-<account>-<id>`, `<stack>-vault-<id>`,
`order_transaction-<stack>-<id>` (the id is the first group of a stack's id) and backups named
`<table>.ddb-guard-<stack>.<time>`. The resources of a live stack of the same name are skipped.
"""

import re
import sys

import boto3
from botocore.exceptions import ClientError

HARMLESS_POLICY = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",'
    ' "Action": "backup:StartBackupJob", "Resource": "*"}]}'
)


def live_resources(cloudformation, stack):
    """Physical ids of a stack of this name that still exists (not to be touched)."""
    try:
        pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        return {r.get("PhysicalResourceId") for page in pages for r in page["StackResourceSummaries"]}
    except ClientError as e:
        if "does not exist" in str(e):
            return set()
        raise


def empty_and_delete_bucket(s3, bucket):
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    for page in pages:
        objects = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if objects:
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            if result.get("Errors"):
                sys.exit(f"bucket {bucket} not emptied: {result['Errors'][:3]}")
    s3.delete_bucket(Bucket=bucket)
    print(f"deleted bucket {bucket} (every version)")


def delete_demo_table(dynamodb, table):
    if dynamodb.describe_table(TableName=table)["Table"].get("DeletionProtectionEnabled"):
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
    dynamodb.delete_table(TableName=table)
    print(f"deleted demo table {table}")


def remove_vault(backup, vault):
    """Deletes the vault once it holds no recovery point; otherwise says until when it stays."""
    try:
        pages = backup.get_paginator("list_recovery_points_by_backup_vault").paginate(
            BackupVaultName=vault
        )
        points = [p for page in pages for p in page["RecoveryPoints"]]
    except ClientError as e:
        print(f"kept vault {vault}: its recovery points could not be listed ({e})")
        return False
    if points:
        ends = [p.get("CalculatedLifecycle", {}).get("DeleteAt") for p in points]
        last = max((e for e in ends if e), default=None)
        when = f"after {last:%Y-%m-%d %H:%M} UTC" if last else "once they are deleted"
        print(f"kept vault {vault}: {len(points)} recovery points; run this again {when}")
        return False
    # Empty: the deny-delete policy protects nothing any more and would stop the deletion.
    backup.put_backup_vault_access_policy(BackupVaultName=vault, Policy=HARMLESS_POLICY)
    backup.delete_backup_vault(BackupVaultName=vault)
    print(f"deleted vault {vault}")
    return True


def native_backups(dynamodb, stack):
    marker = re.compile(rf"\.ddb-guard-{re.escape(stack)}\.\d{{8}}T\d{{6}}Z$")
    pages = dynamodb.get_paginator("list_backups").paginate(BackupType="USER")
    return [b for page in pages for b in page["BackupSummaries"] if marker.search(b["BackupName"])]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1 or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", args[0]):
        sys.exit("usage: tools/teardown.sh STACK [--delete-native-backups]")
    stack = args[0]
    account = boto3.client("sts").get_caller_identity()["Account"]
    live = live_resources(boto3.client("cloudformation"), stack)
    if live:
        print(f"stack {stack} exists: its own bucket, vault and table are left alone")
    s3, dynamodb, backup = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("backup")
    ours = re.compile(rf"{re.escape(stack)}-data-{account}-[0-9a-f]{{8}}")
    buckets = [b["Name"] for page in s3.get_paginator("list_buckets").paginate() for b in page["Buckets"]]
    for bucket in buckets:
        if ours.fullmatch(bucket) and bucket not in live:
            empty_and_delete_bucket(s3, bucket)
    demo = re.compile(rf"order_transaction-{re.escape(stack)}-[0-9a-f]{{8}}")
    for page in dynamodb.get_paginator("list_tables").paginate():
        for table in page["TableNames"]:
            if demo.fullmatch(table) and table not in live:
                delete_demo_table(dynamodb, table)
    vaults = re.compile(rf"{re.escape(stack)}-vault-[0-9a-f]{{8}}")
    for page in backup.get_paginator("list_backup_vaults").paginate():
        for vault in page["BackupVaultList"]:
            if vaults.fullmatch(vault["BackupVaultName"]) and vault["BackupVaultName"] not in live:
                remove_vault(backup, vault["BackupVaultName"])
    left = native_backups(dynamodb, stack)
    if left and live:
        print(f"kept the native backups named for {stack}: a stack of that name is live and prunes them")
    elif left and "--delete-native-backups" in sys.argv:
        for b in left:
            dynamodb.delete_backup(BackupArn=b["BackupArn"])
            print(f"deleted native backup {b['BackupName']}")
    elif left:
        print(
            f"kept {len(left)} native backups this stack took (nothing expires them now that the "
            "stack is gone): run again with --delete-native-backups to delete them"
        )


if __name__ == "__main__":
    main()
