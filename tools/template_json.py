"""Prints a CloudFormation/SAM YAML template as JSON, short-form tags (!Ref, !Sub, ...) expanded to
their long form ({"Ref": ...}, {"Fn::Sub": ...}), for checks that read the template."""

import json
import sys

import yaml


class TemplateLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


TemplateLoader.add_multi_constructor("!", _intrinsic)

if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as template:
        json.dump(yaml.load(template, Loader=TemplateLoader), sys.stdout, indent=1)
