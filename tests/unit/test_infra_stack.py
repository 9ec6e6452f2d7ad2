"""The CDK app, synthesized once per session (jsii/node is slow), checked statically: mapping
settings equal the declaration in ingestion/functions.py, encryption everywhere, alarms, IAM
wildcards, cdk-nag (v3 fails the synth on any unacknowledged error; the report must hold none),
and cfn-lint on the template. Nothing reaches AWS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

from cqrs.resources import QUEUES, TABLES
from ingestion.functions import FUNCTIONS

# Statements that must use Resource "*": these actions have no resource-level permissions.
WILDCARD_OK = {
    "xray:PutTraceSegments", "xray:PutTelemetryRecords",  # X-Ray tracing
    "xray:GetSamplingRules", "xray:GetSamplingTargets",
    # Step Functions logging to CloudWatch Logs (vended log delivery APIs)
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # Redshift Data API: statement ids are not ARNs
    "redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement",
}


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    from aws_cdk.assertions import Template

    from infra.app import build_app

    out = tmp_path_factory.mktemp("cdk")
    app, stack = build_app({"dependencyLayer": "parameter", "stageDir": str(out / "lambda")}, outdir=str(out / "cdk.out"))
    assembly = app.synth()  # raises if cdk-nag or CFN validation reports an unacknowledged error
    template_path = Path(assembly.directory) / assembly.get_stack_by_name(stack.stack_name).template_file
    return stack, Template.from_stack(stack), json.loads(template_path.read_text()), template_path, out


def _resources(tpl: dict, rtype: str) -> dict[str, dict]:
    return {k: v for k, v in tpl["Resources"].items() if v["Type"] == rtype}


def _logical(stack, construct) -> str:
    return stack.resolve(stack.get_logical_id(construct.node.default_child))


def test_every_declared_mapping_is_synthesized_with_its_declared_settings(synth):
    stack, _, tpl, _, _ = synth
    esms = _resources(tpl, "AWS::Lambda::EventSourceMapping")
    consumers = _resources(tpl, "AWS::Kinesis::StreamConsumer")
    queues = _resources(tpl, "AWS::SQS::Queue")
    seen = 0
    for fn in FUNCTIONS:
        fid = _logical(stack, stack.functions[fn.name])
        mine = [p["Properties"] for p in esms.values() if p["Properties"]["FunctionName"] == {"Ref": fid}]
        assert len(mine) == len(fn.mappings), fn.name
        for m, props in zip(fn.mappings, mine):
            seen += 1
            assert props["BatchSize"] == m.batch_size
            assert props["MaximumBatchingWindowInSeconds"] == m.maximum_batching_window_in_seconds
            assert (props.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]) == m.report_batch_item_failures
            src = props["EventSourceArn"]
            if m.kind == "sqs":
                qid = src["Fn::GetAtt"][0]
                assert queues[qid]["Properties"]["QueueName"] == f"cqrs-{m.source}"
                assert queues[qid]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == m.max_receive_count
                assert "ParallelizationFactor" not in props
                continue
            assert props["ParallelizationFactor"] == m.parallelization_factor
            assert props["BisectBatchOnFunctionError"] == m.bisect_batch_on_function_error
            assert props["MaximumRetryAttempts"] == m.maximum_retry_attempts
            assert props["MaximumRecordAgeInSeconds"] == m.maximum_record_age_in_seconds
            assert props["StartingPosition"] == m.starting_position
            if m.kind == "kinesis":  # enhanced fan-out: the mapping reads a registered consumer
                assert src["Fn::GetAtt"][0] in consumers
            dest = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if m.on_failure is None:
                assert dest is None
            elif m.on_failure.kind == "s3":
                assert dest == {"Fn::GetAtt": [_logical(stack, stack.failures_bucket), "Arn"]}
    assert seen == sum(len(f.mappings) for f in FUNCTIONS) > 0
    # One enhanced fan-out consumer per Kinesis mapping, no more.
    assert len(consumers) == sum(m.kind == "kinesis" for f in FUNCTIONS for m in f.mappings)


def test_functions_run_python312_with_the_declared_memory_and_handler(synth):
    stack, _, tpl, _, _ = synth
    fns = _resources(tpl, "AWS::Lambda::Function")
    for fn in FUNCTIONS:
        props = fns[_logical(stack, stack.functions[fn.name])]["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Handler"] == fn.handler.replace(":", ".")
        assert props["MemorySize"] == fn.memory_mb and props["Timeout"] == fn.timeout_s
        assert props["TracingConfig"] == {"Mode": "Active"}
        env = props["Environment"]["Variables"]
        assert env["CQRS_OPENSEARCH_AUTH"] == "sigv4" and env["CQRS_TABLE_PREFIX"] == "cqrs-"
    settings_src = Path("cqrs/settings.py").read_text()
    for name in env:  # every variable the app sets is one Settings reads (or Powertools')
        assert name.startswith("POWERTOOLS_") or f'"{name}"' in settings_src, name


def test_tables_stream_both_images_to_the_changes_stream_encrypted_with_pitr_and_ttl(synth):
    _, _, tpl, _, _ = synth
    tables = {v["Properties"]["TableName"]: v["Properties"] for v in _resources(tpl, "AWS::DynamoDB::Table").values()}
    api_keys = tables.pop("cqrs-ApiKeys")  # the search API's hashed keys: encrypted, never streamed
    assert api_keys["SSESpecification"]["SSEEnabled"] is True
    assert "StreamSpecification" not in api_keys and "KinesisStreamSpecification" not in api_keys
    assert set(tables) == {f"cqrs-{t.name}" for t in TABLES}
    stream_id = next(iter(_resources(tpl, "AWS::Kinesis::Stream")))
    for t in TABLES:
        p = tables[f"cqrs-{t.name}"]
        assert p["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert p["SSESpecification"]["SSEEnabled"] is True
        assert p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert p["KinesisStreamSpecification"]["StreamArn"] == {"Fn::GetAtt": [stream_id, "Arn"]}
        if t.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": t.ttl_attribute, "Enabled": True}


def test_encryption_at_rest_and_in_transit(synth):
    _, _, tpl, _, _ = synth
    stream = next(iter(_resources(tpl, "AWS::Kinesis::Stream").values()))["Properties"]
    assert stream["StreamEncryption"]["EncryptionType"] == "KMS"
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    buckets = _resources(tpl, "AWS::S3::Bucket")
    assert len(buckets) == 4
    for bid, b in buckets.items():
        p = b["Properties"]
        assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert p["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    policies = {v["Properties"]["Bucket"]["Ref"]: v["Properties"]["PolicyDocument"]["Statement"]
                for v in _resources(tpl, "AWS::S3::BucketPolicy").values()}
    for bid in buckets:  # enforceSSL: every bucket denies non-TLS requests
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in policies[bid]), bid
    for q in _resources(tpl, "AWS::SQS::Queue").values():
        assert q["Properties"]["SqsManagedSseEnabled"] is True
    domain = next(iter(_resources(tpl, "AWS::OpenSearchService::Domain").values()))["Properties"]
    assert domain["EncryptionAtRestOptions"]["Enabled"] is True
    assert domain["NodeToNodeEncryptionOptions"]["Enabled"] is True
    assert domain["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert domain["AdvancedSecurityOptions"]["Enabled"] is True
    assert "*" not in json.dumps(domain["AccessPolicies"]["Statement"][0]["Principal"])
    wg = next(iter(_resources(tpl, "AWS::Athena::WorkGroup").values()))["Properties"]["WorkGroupConfiguration"]
    assert wg["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert wg["BytesScannedCutoffPerQuery"] == 10 * 1024**3 and wg["EnforceWorkGroupConfiguration"] is True
    ns = next(iter(_resources(tpl, "AWS::RedshiftServerless::Namespace").values()))["Properties"]
    assert "resolve:secretsmanager" in json.dumps(ns["AdminUserPassword"])  # never a literal password
    stage = next(iter(_resources(tpl, "AWS::ApiGateway::Stage").values()))["Properties"]
    assert stage["AccessLogSetting"] and stage["TracingEnabled"] is True
    for method in _resources(tpl, "AWS::ApiGateway::Method").values():
        if method["Properties"]["HttpMethod"] != "OPTIONS":
            assert method["Properties"]["ApiKeyRequired"] is True


def test_lake_tables_are_the_lake_adapters_table_inputs(synth):
    from projections.lake.schema import ENTITIES

    stack, _, tpl, _, _ = synth
    glue = {v["Properties"]["TableInput"]["Name"]: v["Properties"] for v in _resources(tpl, "AWS::Glue::Table").values()}
    assert set(glue) == {e.table for e in ENTITIES.values()}
    bucket = _logical(stack, stack.lake_bucket)
    for ent in ENTITIES.values():
        props = glue[ent.table]
        assert props["DatabaseName"] == "cqrs_lake"
        ti = props["TableInput"]
        assert ti["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
        assert ti["StorageDescriptor"]["Location"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket}, f"/changes/{ent.name}/"]]}
        assert {c.name for c in ent.columns} <= {c["Name"] for c in ti["StorageDescriptor"]["Columns"]}


def test_rules_route_declared_patterns_to_their_queues(synth):
    from services.rules import RULES

    _, _, tpl, _, _ = synth
    rules = {v["Properties"]["Name"]: v["Properties"] for v in _resources(tpl, "AWS::Events::Rule").values()}
    queues = _resources(tpl, "AWS::SQS::Queue")
    for r in RULES:
        props = rules[f"cqrs-{r.name}"]
        assert props["EventPattern"] == r.event_pattern
        target = props["Targets"][0]
        assert queues[target["Arn"]["Fn::GetAtt"][0]]["Properties"]["QueueName"] == f"cqrs-{r.queue}"
        assert "DeadLetterConfig" in target


def test_alarms_cover_iterator_age_failures_dlqs_quarantine_freshness_errors_throttles(synth):
    stack, _, tpl, _, _ = synth
    alarms = list(_resources(tpl, "AWS::CloudWatch::Alarm").values())
    by_metric: dict[str, list[dict]] = {}
    for a in alarms:
        by_metric.setdefault(a["Properties"]["MetricName"], []).append(a["Properties"])
    stream_fns = [f for f in FUNCTIONS if any(m.kind != "sqs" for m in f.mappings)]
    assert len(by_metric["IteratorAge"]) == len(stream_fns)
    assert len(by_metric["Errors"]) == len(by_metric["Throttles"]) == len(stack.functions)
    assert len(by_metric["ApproximateNumberOfMessagesVisible"]) == len(QUEUES) + 1  # + the rules' DLQ
    assert by_metric["PutRequests"][0]["Dimensions"][0]["Name"] == "BucketName"
    assert len(by_metric["QuarantinedRecords"]) == len(by_metric["FreshnessSeconds"]) == 3
    assert all(a["Properties"]["AlarmActions"] for a in alarms)
    assert _resources(tpl, "AWS::CloudWatch::Dashboard")


def test_no_iam_statement_has_resource_star_except_unavoidable_actions(synth):
    _, _, tpl, _, _ = synth
    offenders = []
    for pid, pol in _resources(tpl, "AWS::IAM::Policy").items():
        for st in pol["Properties"]["PolicyDocument"]["Statement"]:
            res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if "*" in res and not set(actions) <= WILDCARD_OK:
                offenders.append((pid, actions))
    assert offenders == []


def test_cdk_nag_reports_no_unacknowledged_error(synth):
    _, _, _, template_path, _ = synth
    report = template_path.parent / "validation-report.json"
    errors = []
    if report.exists():
        for plugin in json.loads(report.read_text()).get("pluginReports", []):
            errors += [v["ruleName"] for v in plugin.get("violations", []) if v.get("severity") == "error"]
    assert errors == []


def test_cfn_lint_passes(synth):
    _, _, _, template_path, _ = synth
    # W3005: CDK adds DependsOn on a role that `Role: !GetAtt` already orders; harmless, not ours.
    proc = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(template_path)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_function_asset_holds_only_the_projects_own_code(synth):
    _, _, _, _, out = synth
    staged = out / "lambda"
    assert {p.name for p in staged.iterdir()} >= {"cqrs", "ingestion", "projections", "services", "search_api"}
    assert not list(staged.rglob("__pycache__")) and not (staged / "tests").exists()
    assert (staged / "services" / "asl" / "checkout_saga.asl.json").exists()
    assert not (staged / "boto3").exists()  # third-party code comes from the layer
    # the compiled batch steps as `make install` built them (stable ABI: the python3.12 runtime loads them)
    assert (staged / "ingestion" / "_ndjson.abi3.so").exists()
    assert (staged / "ingestion" / "_kinesis.abi3.so").exists()


def test_saga_state_machine_may_write_exactly_the_tables_its_definition_names(synth):
    from infra.stack import saga_tables

    stack, _, tpl, _, _ = synth
    definition = Path("services/asl/checkout_saga.asl.json").read_text()
    named = saga_tables(definition)
    assert named  # the definition does name tables
    role_id = stack.resolve(stack.get_logical_id(stack.saga.role.node.default_child))
    policy = next(v for v in _resources(tpl, "AWS::IAM::Policy").values()
                  if {"Ref": role_id} in v["Properties"]["Roles"])
    granted = json.dumps(policy["Properties"]["PolicyDocument"])
    for t in TABLES:
        assert (_logical(stack, stack.tables[t.name]) in granted) == (t.name in named), t.name


def test_every_deployed_handler_exists_in_the_code():
    """A handler string in FUNCTIONS (or the search API's) that does not resolve would deploy a
    function failing on every invocation; importing is I/O-free by the project's rules."""
    import importlib

    from infra.access import FUNCTION_ACCESS, SEARCH_API_HANDLER

    for spec in [f.handler for f in FUNCTIONS] + [SEARCH_API_HANDLER]:
        module, _, func = spec.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), spec
    assert {f.name for f in FUNCTIONS} <= set(FUNCTION_ACCESS)


def test_context_values_are_validated_and_parsed():
    from infra.config import InfraConfig

    ctx = {"streamMode": "provisioned", "searchDataNodes": "4", "redshiftSubnetIds": "subnet-a, subnet-b,subnet-c"}
    cfg = InfraConfig.from_context(ctx.get)
    assert cfg.stream_mode == "provisioned" and cfg.search_data_nodes == 4
    assert cfg.redshift_subnet_ids == ("subnet-a", "subnet-b", "subnet-c")
    with pytest.raises(ValueError, match="search"):
        InfraConfig.from_context({"search": "elasticsearch"}.get)
