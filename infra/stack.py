"""The whole system in one CloudFormation stack: command-side tables, the change stream and its
enhanced fan-out consumers, the event bus and rule queues, the Lambda functions and their event
source mappings (from ingestion.functions.FUNCTIONS, never restated), the lake (S3 + Glue + Athena),
the search store (OpenSearch domain or Serverless collection), the warehouse (Redshift Serverless),
the search API, the checkout saga state machine, and the alarms/dashboard (infra.observability)."""
from __future__ import annotations

import importlib
import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import (
    aws_apigateway as apigw,
)
from aws_cdk import (
    aws_athena as athena,
)
from aws_cdk import (
    aws_dynamodb as ddb,
)
from aws_cdk import (
    aws_events as events,
)
from aws_cdk import (
    aws_events_targets as targets,
)
from aws_cdk import (
    aws_glue as glue,
)
from aws_cdk import (
    aws_iam as iam,
)
from aws_cdk import (
    aws_kinesis as kinesis,
)
from aws_cdk import (
    aws_lambda as lambda_,
)
from aws_cdk import (
    aws_logs as logs,
)
from aws_cdk import (
    aws_opensearchserverless as aoss,
)
from aws_cdk import (
    aws_opensearchservice as opensearch,
)
from aws_cdk import (
    aws_redshiftserverless as rs,
)
from aws_cdk import (
    aws_s3 as s3,
)
from aws_cdk import (
    aws_secretsmanager as secretsmanager,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from aws_cdk import (
    aws_stepfunctions as sfn,
)
from constructs import Construct

from cqrs.resources import QUEUES, TABLES
from infra.access import SEARCH_API_ACCESS, SEARCH_API_HANDLER, Access, access_for
from infra.config import InfraConfig
from infra.lake_tables import lake_table_inputs
from infra.packaging import layer_is_built, stage_code
from ingestion.functions import FUNCTIONS, Function, Mapping

_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def lambda_handler(spec: str) -> str:
    """"package.module:function" (our declaration) -> "package.module.function" (Lambda's)."""
    module, _, func = spec.partition(":")
    if not func:
        raise ValueError(f"handler {spec!r}: expected 'package.module:function'")
    return f"{module}.{func}"


def load_rules() -> tuple[Any, ...]:
    """services.rules.RULES, read lazily: the rules belong to the services part."""
    try:
        module = importlib.import_module("services.rules")
    except ModuleNotFoundError as e:
        raise RuntimeError("services.rules (Rule(name, event_pattern, queue) declarations) is missing: "
                           "the EventBridge rules cannot be synthesized") from e
    return tuple(module.RULES)


_PATTERN_FIELDS = {"source", "detail-type", "detail", "account", "region", "resources", "id", "time", "version"}


def check_pattern(pattern: dict[str, Any]) -> dict[str, Any]:
    unknown = set(pattern) - _PATTERN_FIELDS
    if unknown:
        raise ValueError(f"event pattern keys {sorted(unknown)} are not EventBridge top-level fields")
    return pattern


def saga_tables(definition: str) -> list[str]:
    return [t.name for t in TABLES
            if "${" + f"{t.name}Table" + "}" in definition or f'"$.tables.{t.name}"' in definition]


class CqrsStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        p = config.prefix
        self.functions: dict[str, lambda_.Function] = {}
        self.mappings: dict[str, list[lambda_.CfnEventSourceMapping]] = {}
        self.dlqs: dict[str, sqs.Queue] = {}

        self._storage(p)
        self._stream_and_tables(p)
        self._bus_and_queues(p)
        self._lake(p)
        self._search(p)
        self._warehouse(p)
        self._code()
        for fn in FUNCTIONS:
            self._function(fn)
        self._search_api(p)
        self._saga(p)

        from infra.observability import Observability
        self.observability = Observability(self, "Ops", stack=self)
        for name, value in (("ChangesStreamName", self.stream.stream_name),
                            ("EventBusName", self.bus.event_bus_name),
                            ("LakeBucketName", self.lake_bucket.bucket_name),
                            ("FailuresBucketName", self.failures_bucket.bucket_name),
                            ("GlueDatabase", config.glue_database),
                            ("AthenaWorkGroup", self.workgroup.name),
                            ("SearchEndpoint", self.search_url),
                            ("RedshiftWorkgroup", self.redshift_workgroup.workgroup_name),
                            ("RedshiftSecretArn", self.redshift_secret.secret_arn),
                            ("SearchApiUrl", self.api.url),
                            ("SearchApiKeyId", self.api_key.key_id),
                            ("CheckoutSagaArn", self.saga.state_machine_arn)):
            cdk.CfnOutput(self, f"Out{name}", value=value)

    # --- buckets ------------------------------------------------------------------------------
    def _bucket(self, cid: str, *, logs_prefix: str | None, **kwargs: Any) -> s3.Bucket:
        extra: dict[str, Any] = {}
        if logs_prefix is not None:
            extra = {"server_access_logs_bucket": self.access_logs, "server_access_logs_prefix": logs_prefix}
        return s3.Bucket(self, cid, encryption=s3.BucketEncryption.S3_MANAGED,
                         block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True,
                         versioned=True, removal_policy=cdk.RemovalPolicy.RETAIN, **extra, **kwargs)

    def _storage(self, p: str) -> None:
        self.access_logs = self._bucket(
            "AccessLogs", logs_prefix=None, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(365))])
        self.lake_bucket = self._bucket("Lake", logs_prefix="lake/")
        # Batches that exhausted their retries land here (full invocation record). The request
        # metrics filter feeds the "objects written" alarm within a minute.
        self.failures_bucket = self._bucket(
            "Failures", logs_prefix="failures/", metrics=[s3.BucketMetrics(id="all")],
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))])
        self.athena_results = self._bucket(
            "AthenaResults", logs_prefix="athena-results/",
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(30))])

    # --- change capture ------------------------------------------------------------------------
    def _stream_and_tables(self, p: str) -> None:
        if self.config.stream_mode == "provisioned":
            shards = cdk.CfnParameter(self, "ChangesShardCount", type="Number", default=4, min_value=1,
                                      description="Shards of the changes stream (see docs/capacity.md)")
            mode: dict[str, Any] = {"stream_mode": kinesis.StreamMode.PROVISIONED,
                                    "shard_count": shards.value_as_number}
        else:
            mode = {"stream_mode": kinesis.StreamMode.ON_DEMAND}
        self.stream = kinesis.Stream(self, "Changes", stream_name=f"{p}changes",
                                     encryption=kinesis.StreamEncryption.MANAGED,
                                     retention_period=cdk.Duration.hours(168), **mode)
        self.tables: dict[str, ddb.Table] = {}
        for t in TABLES:
            def attr(key: tuple[str, str]) -> ddb.Attribute:
                return ddb.Attribute(name=key[0], type=ddb.AttributeType(
                    {"S": "STRING", "N": "NUMBER", "B": "BINARY"}[key[1]]))

            table = ddb.Table(
                self, f"Table{t.name}", table_name=f"{p}{t.name}",
                partition_key=attr(t.hash_key), sort_key=attr(t.range_key) if t.range_key else None,
                billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
                stream=ddb.StreamViewType.NEW_AND_OLD_IMAGES,
                kinesis_stream=self.stream,  # Kinesis Data Streams for DynamoDB: every change, all readers
                time_to_live_attribute=t.ttl_attribute,
                point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                encryption=ddb.TableEncryption.AWS_MANAGED,
                deletion_protection=True,
                removal_policy=cdk.RemovalPolicy.RETAIN)
            for ix in t.indexes:
                table.add_global_secondary_index(
                    index_name=ix.name, partition_key=attr(ix.hash_key),
                    sort_key=attr(ix.range_key) if ix.range_key else None)
            self.tables[t.name] = table

    def _bus_and_queues(self, p: str) -> None:
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{p}events")
        # Queue visibility must outlast the consumer's timeout (AWS: six times it) and the DLQ
        # receive count comes from the consuming mapping.
        consumers: dict[str, tuple[Function, Mapping]] = {
            m.source: (f, m) for f in FUNCTIONS for m in f.mappings if m.kind == "sqs"}
        default_receives = Mapping.__dataclass_fields__["max_receive_count"].default
        self.queues: dict[str, sqs.Queue] = {}
        for name in (*QUEUES, "events-delivery"):
            dlq = sqs.Queue(self, f"Dlq{name}", queue_name=f"{p}{name}-dlq",
                            encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                            retention_period=cdk.Duration.days(14))
            self.dlqs[name] = dlq
            if name == "events-delivery":
                continue  # only a DLQ: events EventBridge could not deliver to a rule target
            fn, m = consumers.get(name, (None, None))
            self.queues[name] = sqs.Queue(
                self, f"Queue{name}", queue_name=f"{p}{name}",
                encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                visibility_timeout=cdk.Duration.seconds(6 * fn.timeout_s if fn else 30),
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dlq, max_receive_count=m.max_receive_count if m else default_receives))
        for rule in load_rules():
            if rule.queue not in self.queues:
                raise ValueError(f"rule {rule.name!r} targets queue {rule.queue!r}, not in cqrs.resources.QUEUES")
            r = events.Rule(self, f"Rule{rule.name}", rule_name=f"{p}{rule.name}", event_bus=self.bus,
                            event_pattern=events.EventPattern(source=["overridden below"]),
                            targets=[targets.SqsQueue(self.queues[rule.queue],
                                                      dead_letter_queue=self.dlqs["events-delivery"],
                                                      retry_attempts=185, max_event_age=cdk.Duration.hours(24))])
            # The declared pattern verbatim (content filters like {"prefix": ...} included): the
            # L2 EventPattern type only accepts plain string lists.
            cfn_rule = r.node.default_child
            assert isinstance(cfn_rule, events.CfnRule)
            cfn_rule.add_property_override("EventPattern", check_pattern(rule.event_pattern))

    # --- lake ----------------------------------------------------------------------------------
    def _lake(self, p: str) -> None:
        db = self.config.glue_database
        self.glue_db = glue.CfnDatabase(self, "GlueDatabase", catalog_id=self.account,
                                        database_input=glue.CfnDatabase.DatabaseInputProperty(
                                            name=db, description="CQRS lake: Parquet change logs"))
        self.glue_tables: dict[str, glue.CfnTable] = {}
        for ti in lake_table_inputs(self.lake_bucket.bucket_name, db):
            table = glue.CfnTable(self, f"Glue{ti['Name']}", catalog_id=self.account, database_name=db,
                                  table_input=glue.CfnTable.TableInputProperty(name=ti["Name"]))
            # The lake adapter's TableInput verbatim (PascalCase CloudFormation shape).
            table.add_property_override("TableInput", ti)
            table.add_resource_dependency(self.glue_db)
            self.glue_tables[ti["Name"]] = table
        self.workgroup = athena.CfnWorkGroup(
            self, "AthenaWorkGroup", name=f"{p}analysts", recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True, publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=self.config.athena_bytes_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version="AUTO"),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.athena_results.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"))))

    def _glue_arns(self) -> list[str]:
        from projections.lake.store import QUARANTINE_TABLE

        db = self.config.glue_database
        base = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        return [f"{base}:catalog", f"{base}:database/{db}",
                *(f"{base}:table/{db}/{name}" for name in (*self.glue_tables, QUARANTINE_TABLE))]

    # --- search --------------------------------------------------------------------------------
    def _search(self, p: str) -> None:
        self.search_principals: list[iam.IRole] = []
        if self.config.search == "serverless":
            name = f"{p}search"[:32]
            enc = aoss.CfnSecurityPolicy(self, "SearchEncryption", name=f"{name}-enc", type="encryption",
                                         policy=json.dumps({"Rules": [{"ResourceType": "collection",
                                                                       "Resource": [f"collection/{name}"]}],
                                                            "AWSOwnedKey": True}))
            net = aoss.CfnSecurityPolicy(self, "SearchNetwork", name=f"{name}-net", type="network",
                                         policy=json.dumps([{"Rules": [{"ResourceType": "collection",
                                                                        "Resource": [f"collection/{name}"]}],
                                                             "AllowFromPublic": True}]))
            self.collection = aoss.CfnCollection(self, "SearchCollection", name=name, type="SEARCH",
                                                 standby_replicas="ENABLED")
            self.collection.add_resource_dependency(enc)
            self.collection.add_resource_dependency(net)
            self.search_url = self.collection.attr_collection_endpoint
            self.domain = None
            return
        self.collection = None
        app_logs = logs.LogGroup(self, "SearchAppLogs", retention=_LOG_RETENTION)
        slow_search = logs.LogGroup(self, "SearchSlowSearchLogs", retention=_LOG_RETENTION)
        slow_index = logs.LogGroup(self, "SearchSlowIndexLogs", retention=_LOG_RETENTION)
        audit = logs.LogGroup(self, "SearchAuditLogs", retention=_LOG_RETENTION)
        # The domain's own log-publishing policy, declared natively instead of CDK's custom-resource
        # Lambda (suppress_logs_resource_policy below).
        logs.ResourcePolicy(self, "SearchLogsPolicy", policy_statements=[iam.PolicyStatement(
            principals=[iam.ServicePrincipal("es.amazonaws.com")],
            actions=["logs:PutLogEvents", "logs:CreateLogStream"],
            resources=[g.log_group_arn for g in (app_logs, slow_search, slow_index, audit)],
            conditions={"StringEquals": {"aws:SourceAccount": self.account}})])
        data_nodes = self.config.search_data_nodes
        self.domain = opensearch.Domain(
            self, "Search", domain_name=f"{p}search", version=opensearch.EngineVersion.OPENSEARCH_2_17,
            capacity=opensearch.CapacityConfig(
                data_nodes=data_nodes, data_node_instance_type=self.config.search_instance_type,
                master_nodes=3, master_node_instance_type="m6g.large.search",
                multi_az_with_standby_enabled=False),
            ebs=opensearch.EbsOptions(volume_size=self.config.search_volume_gb,
                                      volume_type=cdk.aws_ec2.EbsDeviceVolumeType.GP3),
            zone_awareness=opensearch.ZoneAwarenessConfig(enabled=True, availability_zone_count=2),
            node_to_node_encryption=True,
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            enforce_https=True, tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            # Fine-grained access control; the master user's password is generated into Secrets
            # Manager by CDK. Lambda roles authenticate with SigV4 and are mapped to FGAC roles once
            # after deploy (docs/deploy.md).
            fine_grained_access_control=opensearch.AdvancedSecurityOptions(master_user_name="admin"),
            logging=opensearch.LoggingOptions(app_log_enabled=True, app_log_group=app_logs,
                                              slow_search_log_enabled=True, slow_search_log_group=slow_search,
                                              slow_index_log_enabled=True, slow_index_log_group=slow_index,
                                              audit_log_enabled=True, audit_log_group=audit),
            suppress_logs_resource_policy=True,
            enable_auto_software_update=True,
            removal_policy=cdk.RemovalPolicy.RETAIN)
        # Resource policy declared natively (CDK's `access_policies` would add a custom-resource
        # Lambda): it delegates to IAM, so only roles granted es:ESHttp* below can call the domain.
        cfn_domain = self.domain.node.default_child
        assert isinstance(cfn_domain, opensearch.CfnDomain)
        cfn_domain.add_property_override("AccessPolicies", {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:{self.partition}:iam::{self.account}:root"},
                           "Action": "es:ESHttp*",
                           "Resource": f"arn:{self.partition}:es:{self.region}:{self.account}:domain/{p}search/*"}]})
        self.search_url = f"https://{self.domain.domain_endpoint}"

    def _grant_search(self, fn: lambda_.Function, *, write: bool) -> None:
        if self.domain is not None:
            (self.domain.grant_read_write if write else self.domain.grant_read)(fn)
            return
        assert self.collection is not None
        fn.add_to_role_policy(iam.PolicyStatement(actions=["aoss:APIAccessAll"],
                                                  resources=[self.collection.attr_arn]))
        perms = ["aoss:DescribeIndex", "aoss:ReadDocument"]
        if write:
            perms += ["aoss:CreateIndex", "aoss:UpdateIndex", "aoss:WriteDocument"]
        name = self.collection.name
        aoss.CfnAccessPolicy(self, f"SearchAccess{fn.node.id}", type="data",
                             name=f"{self.config.prefix}{fn.node.id.removeprefix('Fn')}"[:32],
                             policy=cdk.Stack.of(self).to_json_string([{
                                 "Rules": [{"ResourceType": "index", "Resource": [f"index/{name}/*"],
                                            "Permission": perms}],
                                 "Principal": [fn.role.role_arn]}]))

    # --- warehouse -----------------------------------------------------------------------------
    def _warehouse(self, p: str) -> None:
        self.redshift_secret = secretsmanager.Secret(
            self, "RedshiftAdmin", description="Redshift Serverless admin (Data API uses it)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"username": "cqrsadmin"}),
                generate_string_key="password", exclude_punctuation=True, password_length=32))
        role = iam.Role(self, "RedshiftRole", assumed_by=iam.ServicePrincipal("redshift.amazonaws.com"),
                        description="Lets Redshift read the lake (COPY, Spectrum)")
        self.lake_bucket.grant_read(role)
        ns = rs.CfnNamespace(
            self, "RedshiftNamespace", namespace_name=f"{p}warehouse", db_name="dev",
            admin_username=self.redshift_secret.secret_value_from_json("username").unsafe_unwrap(),
            admin_user_password=self.redshift_secret.secret_value_from_json("password").unsafe_unwrap(),
            iam_roles=[role.role_arn], default_iam_role_arn=role.role_arn,
            log_exports=["userlog", "connectionlog", "useractivitylog"])
        self.redshift_workgroup = rs.CfnWorkgroup(
            self, "RedshiftWorkgroup", workgroup_name=f"{p}warehouse", namespace_name=ns.namespace_name,
            base_capacity=self.config.redshift_base_rpu, publicly_accessible=False, enhanced_vpc_routing=True,
            # Three subnets in three AZs (`-c redshiftSubnetIds=a,b,c`); none = the default VPC.
            subnet_ids=list(self.config.redshift_subnet_ids) or None,
            config_parameters=[rs.CfnWorkgroup.ConfigParameterProperty(parameter_key="require_ssl",
                                                                       parameter_value="true")])
        self.redshift_workgroup.add_resource_dependency(ns)

    def _grant_warehouse(self, fn: lambda_.Function) -> None:
        wg_arn = self.redshift_workgroup.attr_workgroup_workgroup_arn
        self.redshift_secret.grant_read(fn)
        fn.add_to_role_policy(iam.PolicyStatement(
            actions=["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            resources=[wg_arn]))
        # Unavoidable "*": these Data API actions have no resource type (statement ids are not ARNs).
        fn.add_to_role_policy(iam.PolicyStatement(
            actions=["redshift-data:DescribeStatement", "redshift-data:GetStatementResult",
                     "redshift-data:CancelStatement"], resources=["*"]))

    # --- functions -----------------------------------------------------------------------------
    def _code(self) -> None:
        self.code = lambda_.Code.from_asset(str(stage_code(self.config.stage_dir)))
        mode = self.config.dependency_layer
        if mode == "auto":
            mode = "asset" if layer_is_built(self.config.layer_dir) else "parameter"
        if mode == "asset":
            if not layer_is_built(self.config.layer_dir):
                raise FileNotFoundError(f"dependency layer not built at {self.config.layer_dir}: run `make layer`")
            self.layer: lambda_.ILayerVersion = lambda_.LayerVersion(
                self, "Dependencies", code=lambda_.Code.from_asset(str(self.config.layer_dir)),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
                description="Third-party packages pinned by constraints.txt (make layer)")
        else:
            arn = cdk.CfnParameter(self, "DependencyLayerArn", type="String",
                                   allowed_pattern=r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[\w-]+:\d+",
                                   description="Layer version ARN with the pinned third-party packages "
                                               "(docs/deploy.md: make layer + publish)")
            self.layer = lambda_.LayerVersion.from_layer_version_arn(self, "Dependencies", arn.value_as_string)

    def _env(self) -> dict[str, str]:
        env = {
            "CQRS_REGION": self.region,
            "CQRS_TABLE_PREFIX": self.config.prefix,
            "CQRS_CHANGES_STREAM": self.stream.stream_name,
            "CQRS_EVENT_BUS": self.bus.event_bus_name,
            "CQRS_LAKE_BUCKET": self.lake_bucket.bucket_name,
            "CQRS_FAILURES_BUCKET": self.failures_bucket.bucket_name,
            "CQRS_GLUE_DATABASE": self.config.glue_database,
            "CQRS_OPENSEARCH_URL": self.search_url,
            "CQRS_OPENSEARCH_AUTH": "sigv4",
            "CQRS_REDSHIFT_WORKGROUP": self.redshift_workgroup.workgroup_name,
            "CQRS_REDSHIFT_DATABASE": "dev",
            "CQRS_REDSHIFT_SECRET_ARN": self.redshift_secret.secret_arn,
            "POWERTOOLS_METRICS_NAMESPACE": "cqrs",
        }
        return env

    def _new_function(self, name: str, handler: str, *, description: str, memory_mb: int, timeout_s: int,
                      reserved: int | None = None, env: dict[str, str] | None = None) -> lambda_.Function:
        log_group = logs.LogGroup(self, f"Logs{name}", retention=_LOG_RETENTION,
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        # Our own role instead of AWSLambdaBasicExecutionRole: logs only to this function's group.
        role = iam.Role(self, f"Role{name}", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"{name} Lambda execution role")
        role.add_to_policy(iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                                               resources=[log_group.log_group_arn]))
        fn = lambda_.Function(
            self, f"Fn{name}", function_name=f"{self.config.prefix}{name}",
            runtime=lambda_.Runtime.PYTHON_3_12, handler=lambda_handler(handler), code=self.code,
            layers=[self.layer], description=description[:256], memory_size=memory_mb,
            timeout=cdk.Duration.seconds(timeout_s), reserved_concurrent_executions=reserved,
            environment={**self._env(), "POWERTOOLS_SERVICE_NAME": name, **(env or {})},
            log_group=log_group, role=role, tracing=lambda_.Tracing.ACTIVE)
        self.functions[name] = fn
        return fn

    def _grant(self, fn: lambda_.Function, access: Access) -> None:
        for t in access.tables_read:
            self.tables[t].grant_read_data(fn)
        for t in access.tables_write:
            self.tables[t].grant_read_write_data(fn)
        if access.put_events:
            self.bus.grant_put_events_to(fn)
        if access.search_write or access.search_read:
            self._grant_search(fn, write=access.search_write)
        if access.lake_write:
            # The change log is append-only: put and read, never delete.
            self.lake_bucket.grant_put(fn)
            self.lake_bucket.grant_read(fn)
            fn.add_to_role_policy(iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
                         "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
                         "glue:UpdatePartition", "glue:CreateTable", "glue:UpdateTable"],
                resources=self._glue_arns()))
        elif access.lake_read:
            self.lake_bucket.grant_read(fn)
        if access.warehouse:
            self._grant_warehouse(fn)

    def _function(self, spec: Function) -> None:
        fn = self._new_function(spec.name, spec.handler, description=spec.description, memory_mb=spec.memory_mb,
                                timeout_s=spec.timeout_s, reserved=spec.reserved_concurrency, env=spec.env)
        self._grant(fn, access_for(spec.name))
        self.mappings[spec.name] = [self._mapping(spec, fn, i, m) for i, m in enumerate(spec.mappings)]

    def _mapping(self, spec: Function, fn: lambda_.Function, i: int, m: Mapping) -> lambda_.CfnEventSourceMapping:
        """One AWS::Lambda::EventSourceMapping whose every setting comes from the Mapping."""
        common: dict[str, Any] = {
            "function_name": fn.function_name, "batch_size": m.batch_size,
            "maximum_batching_window_in_seconds": m.maximum_batching_window_in_seconds,
            "function_response_types": ["ReportBatchItemFailures"] if m.report_batch_item_failures else None,
        }
        if m.kind == "sqs":
            queue = self.queues[m.source]
            queue.grant_consume_messages(fn)
            scaling = (lambda_.CfnEventSourceMapping.ScalingConfigProperty(maximum_concurrency=m.maximum_concurrency)
                       if m.maximum_concurrency is not None else None)
            return lambda_.CfnEventSourceMapping(self, f"Esm{spec.name}{i}", event_source_arn=queue.queue_arn,
                                                 scaling_config=scaling, **common)
        if m.kind == "kinesis":
            stream = {"changes_stream": self.stream}[m.source]
            # Enhanced fan-out: a dedicated 2 MB/s per shard pipe for this consumer, so adding a
            # read model never slows the others.
            consumer = kinesis.StreamConsumer(self, f"Consumer{spec.name}{i}", stream=stream,
                                              stream_consumer_name=f"{self.config.prefix}{spec.name}")
            consumer.grant_read(fn)
            source_arn = consumer.stream_consumer_arn
        elif m.kind == "dynamodb":
            table = self.tables[m.source]
            table.grant_stream_read(fn)
            source_arn = table.table_stream_arn
        else:
            raise ValueError(f"mapping kind {m.kind!r} of {spec.name} is not supported")
        destination = None
        if m.on_failure is not None:
            if m.on_failure.kind == "s3":
                bucket = {"failures_bucket": self.failures_bucket}[m.on_failure.target]
                bucket.grant_put(fn)
                fn.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"],
                                                          resources=[bucket.bucket_arn]))
                arn = bucket.bucket_arn
            else:
                q = self.queues[m.on_failure.target]
                q.grant_send_messages(fn)
                arn = q.queue_arn
            destination = lambda_.CfnEventSourceMapping.DestinationConfigProperty(
                on_failure=lambda_.CfnEventSourceMapping.OnFailureProperty(destination=arn))
        esm = lambda_.CfnEventSourceMapping(
            self, f"Esm{spec.name}{i}", event_source_arn=source_arn,
            starting_position=m.starting_position,
            parallelization_factor=m.parallelization_factor,
            bisect_batch_on_function_error=m.bisect_batch_on_function_error,
            maximum_retry_attempts=m.maximum_retry_attempts,
            maximum_record_age_in_seconds=m.maximum_record_age_in_seconds,
            destination_config=destination, **common)
        esm.node.add_dependency(fn.role)  # the role's grants must exist before polling starts
        return esm

    # --- search API ----------------------------------------------------------------------------
    def _search_api(self, p: str) -> None:
        from search_api.keys import TABLE as API_KEYS

        # Hashed API keys with their role (search_api.keys): not a command-side aggregate, not streamed.
        self.api_keys = ddb.Table(
            self, "TableApiKeys", table_name=f"{p}{API_KEYS}",
            partition_key=ddb.Attribute(name="KeyId", type=ddb.AttributeType.STRING),
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST, encryption=ddb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=True, removal_policy=cdk.RemovalPolicy.RETAIN)
        fn = self._new_function("search-api", SEARCH_API_HANDLER, description="Search API over OpenSearch",
                                memory_mb=512, timeout_s=29)
        self._grant(fn, SEARCH_API_ACCESS)
        self.api_keys.grant_read_data(fn)
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=_LOG_RETENTION)
        self.api = apigw.LambdaRestApi(
            self, "SearchApi", rest_api_name=f"{p}search-api", handler=fn, proxy=True,
            cloud_watch_role=True,
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_method_options=apigw.MethodOptions(api_key_required=True),
            deploy_options=apigw.StageOptions(
                stage_name="v1", tracing_enabled=True, logging_level=apigw.MethodLoggingLevel.INFO,
                metrics_enabled=True, throttling_rate_limit=200, throttling_burst_limit=400,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True)))
        apigw.RequestValidator(self, "SearchApiValidator", rest_api=self.api,
                               validate_request_parameters=True, validate_request_body=True)
        self.api_key = self.api.add_api_key("SearchApiKey")
        plan = self.api.add_usage_plan("SearchApiPlan", throttle=apigw.ThrottleSettings(
            rate_limit=100, burst_limit=200), quota=apigw.QuotaSettings(limit=1_000_000, period=apigw.Period.DAY))
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.api.deployment_stage)

    # --- checkout saga (orchestrated) ----------------------------------------------------------
    def _saga(self, p: str) -> None:
        asl = self.config.saga_asl
        if not asl.exists():
            raise FileNotFoundError(f"{asl} (the checkout saga, services part) is missing")
        definition = asl.read_text()
        subs = {f"{t.name}Table": self.tables[t.name].table_name for t in TABLES}
        subs["EventBusName"] = self.bus.event_bus_name
        used = {k: v for k, v in subs.items() if "${" + k + "}" in definition}
        log_group = logs.LogGroup(self, "SagaLogs", retention=_LOG_RETENTION)
        self.saga = sfn.StateMachine(
            self, "CheckoutSaga", state_machine_name=f"{p}checkout-saga",
            definition_body=sfn.DefinitionBody.from_string(definition), definition_substitutions=used or None,
            tracing_enabled=True, logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL))
        # Tables the definition names, by substitution (${OrdersTable}) or from its input
        # ($.tables.Orders, filled by the starter from Settings): exactly those are granted.
        for name in saga_tables(definition):
            self.tables[name].grant_read_write_data(self.saga)
        if "${EventBusName}" in definition:
            self.bus.grant_put_events_to(self.saga)
