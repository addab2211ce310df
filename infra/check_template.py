"""Checks template.yaml's references that cfn-lint can miss inside SAM resources: every
Ref, GetAtt, Sub variable and FindInMap must name a parameter, resource, mapping or
pseudo parameter; every Condition used must exist; the functions must build the four
Lambda binaries of the workspace.

Usage: python check_template.py template.yaml
"""

import re
import sys

import yaml

PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::Partition", "AWS::URLSuffix",
          "AWS::NoValue", "AWS::StackId", "AWS::NotificationARNs"}


class Loader(yaml.SafeLoader):
    pass


def _tag(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        key = "Ref" if name == "Ref" else "Condition" if name == "Condition" else "Fn::" + name
        return {key: value}
    return construct


for tag in ["Ref", "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "FindInMap", "Select",
            "Split", "Join", "Base64", "GetAZs", "ImportValue", "Condition"]:
    Loader.add_constructor("!" + tag, _tag(tag))


# AWS's limits on the carriers of configuration (read 2026-12-06):
# - a Lambda function's environment variables together: 4 KB
#   (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
# - a CloudFormation parameter value: 4,096 bytes
#   (docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
ENV_LIMIT = 4096
# What a resolved reference can be at most, generously: an SQS URL or ARN with a long stack
# name (queue names are at most 80 characters), an s3:// URI, a table name (255).
RESOLVED_MAX = 300


def environment_sizes(doc):
    """Each function's environment, worst case, must fit Lambda's 4 KB with the inline
    InletConfig parameter empty (its default: the configuration travels in the ConfigBucket;
    a non-empty one must fit what is left, which this reports)."""
    problems = []
    globals_env = doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for name, res in doc["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        env = dict(globals_env)
        env.update(res.get("Properties", {}).get("Environment", {}).get("Variables", {}) or {})
        size = 0
        for key, value in env.items():
            if isinstance(value, dict) and value.get("Ref") == "InletConfig":
                value_size = 0  # default empty; see the parameter's description
            elif isinstance(value, str):
                value_size = len(value.encode())
            else:
                value_size = RESOLVED_MAX
            size += len(key.encode()) + value_size
        print(f"environment of {name}: at most {size} of {ENV_LIMIT} bytes; an inline InletConfig may use the {ENV_LIMIT - size} left")
        if size > ENV_LIMIT:
            problems.append(f"{name}: its environment can reach {size} bytes, past Lambda's {ENV_LIMIT}")
    default = doc.get("Parameters", {}).get("InletConfig", {}).get("Default", "")
    if len(default.encode()) > ENV_LIMIT:
        problems.append("InletConfig's default is past CloudFormation's 4,096-byte parameter limit")
    return problems


def main():
    doc = yaml.load(open(sys.argv[1]), Loader=Loader)
    params = set(doc.get("Parameters", {}))
    resources = set(doc["Resources"])
    mappings = doc.get("Mappings", {})
    conditions = set(doc.get("Conditions", {}))
    known = params | resources | PSEUDO
    problems = []

    def walk(node, where, local=frozenset()):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "Ref":
                    if v not in known:
                        problems.append(f"{where}: !Ref {v} names nothing")
                elif k == "Fn::GetAtt":
                    if v[0] not in resources:
                        problems.append(f"{where}: !GetAtt {'.'.join(v)} names no resource")
                elif k == "Fn::Sub":
                    text, names = (v, {}) if isinstance(v, str) else (v[0], v[1])
                    for var in re.findall(r"\$\{([^}!]+)\}", text):
                        base = var.split(".")[0]
                        if var not in known and base not in resources and var not in names:
                            problems.append(f"{where}: !Sub ${{{var}}} names nothing")
                    walk(names, where)
                elif k == "Fn::FindInMap":
                    if isinstance(v[0], str) and v[0] not in mappings:
                        problems.append(f"{where}: !FindInMap {v[0]} is no mapping")
                    walk(v[1:], where)
                elif k == "Fn::If":
                    if v[0] not in conditions:
                        problems.append(f"{where}: !If {v[0]} is no condition")
                    walk(v[1:], where)
                elif k == "Condition" and isinstance(v, str):
                    if v not in conditions:
                        problems.append(f"{where}: Condition {v} is not defined")
                else:
                    walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(doc.get("Globals", {}), "Globals")
    walk(doc["Resources"], "Resources")
    walk(doc.get("Outputs", {}), "Outputs")

    binaries = sorted(r["Metadata"]["BuildProperties"]["Binary"]
                      for r in doc["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
    if binaries != ["publisher", "reconciler", "webhook", "worker"]:
        problems.append(f"functions build {binaries}, expected publisher, reconciler, webhook, worker")

    problems += environment_sizes(doc)

    for p in problems:
        print("FAIL", p)
    print(f"template references: {len(problems) == 0 and 1 or 0} passed, {len(problems)} failed")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
