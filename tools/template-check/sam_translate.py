"""Prints the CloudFormation that SAM makes of a template (offline, as `sam validate` does), for
checks on what SAM generates: the schedules' roles, the event rules, the merged function settings.

Usage: sam_translate.py TEMPLATE [NAME=VALUE ...]  (parameter values; the others keep their defaults)
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policy by name, so nothing needs looking up."""

    def load(self):
        return {}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # SAM wants code in S3 where `sam build` would put a local path.
    template["Globals"]["Function"]["CodeUri"] = "s3://template-check/code.zip"
    parameters = {"AWS::Region": "us-east-1"}
    parameters.update(arg.split("=", 1) for arg in sys.argv[2:])
    json.dump(transform(template, parameters, NoManagedPolicies()), sys.stdout, indent=1)


if __name__ == "__main__":
    main()
