"""Alarms and the operations dashboard. Thresholds are operational choices made here; the mapping
settings they watch come from ingestion.functions.FUNCTIONS.

Custom metrics the handlers emit (CloudWatch EMF via Powertools, namespace `cqrs`):
  QuarantinedRecords (dimension Projection=search|lake|warehouse): records sent to the quarantine
  FreshnessSeconds   (dimension Projection): now - event_time of the newest record projected
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

if TYPE_CHECKING:
    from infra.stack import CqrsStack

METRICS_NAMESPACE = "cqrs"
PROJECTIONS = ("search", "lake", "warehouse")
ITERATOR_AGE_MS = 60_000          # a consumer one minute behind the stream pages someone
FRESHNESS_S = 300                 # a read model five minutes stale
_1MIN = cdk.Duration.minutes(1)


class Observability(Construct):
    def __init__(self, scope: Construct, cid: str, *, stack: CqrsStack) -> None:
        super().__init__(scope, cid)
        self.topic = sns.Topic(self, "Alarms", display_name="CQRS pipeline alarms", enforce_ssl=True,
                               master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"))
        if stack.config.alarm_email:
            self.topic.add_subscription(subs.EmailSubscription(stack.config.alarm_email))
        self.alarms: list[cw.Alarm] = []
        action = cw_actions.SnsAction(self.topic)

        def alarm(cid: str, metric: cw.IMetric, threshold: float, description: str,
                  op: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD) -> cw.Alarm:
            a = cw.Alarm(self, cid, metric=metric, threshold=threshold, evaluation_periods=1,
                         comparison_operator=op, alarm_description=description,
                         treat_missing_data=cw.TreatMissingData.NOT_BREACHING)
            a.add_alarm_action(action)
            self.alarms.append(a)
            return a

        widgets: list[cw.IWidget] = []
        for name, fn in stack.functions.items():
            alarm(f"Errors{name}", fn.metric_errors(period=_1MIN, statistic="Sum"), 0,
                  f"{name}: invocations failed (retried; terminal batches go to the on-failure destination)")
            alarm(f"Throttles{name}", fn.metric_throttles(period=_1MIN, statistic="Sum"), 0,
                  f"{name}: throttled (reserved concurrency or account limit)")
            row: list[cw.IWidget] = [
                cw.GraphWidget(title=f"{name} invocations/errors/throttles", width=8,
                               left=[fn.metric_invocations(period=_1MIN), fn.metric_errors(period=_1MIN),
                                     fn.metric_throttles(period=_1MIN)]),
                cw.GraphWidget(title=f"{name} duration p99", width=8,
                               left=[fn.metric_duration(period=_1MIN, statistic="p99")])]
            if _specs(name):
                age = fn.metric("IteratorAge", period=_1MIN, statistic="Maximum")
                alarm(f"IteratorAge{name}", age, ITERATOR_AGE_MS,
                      f"{name}: its event source mapping is more than {ITERATOR_AGE_MS // 1000}s behind the stream")
                row.append(cw.GraphWidget(title=f"{name} iterator age (ms)", width=8, left=[age]))
            widgets.append(cw.Row(*row))
        # Terminal failures: objects written to the on-failure bucket (request metrics filter "all").
        failures_put = cw.Metric(namespace="AWS/S3", metric_name="PutRequests", period=_1MIN, statistic="Sum",
                                 dimensions_map={"BucketName": stack.failures_bucket.bucket_name,
                                                 "FilterId": "all"})
        alarm("FailureObjects", failures_put, 0,
              "batches exhausted their retries and were written to the on-failure bucket: inspect and replay")
        for qname, dlq in stack.dlqs.items():
            alarm(f"DlqDepth{qname}", dlq.metric_approximate_number_of_messages_visible(period=_1MIN,
                                                                                          statistic="Maximum"),
                  0, f"dead-letter queue {qname}-dlq holds messages: inspect and redrive")
        for proj in PROJECTIONS:
            q = cw.Metric(namespace=METRICS_NAMESPACE, metric_name="QuarantinedRecords", period=_1MIN,
                          statistic="Sum", dimensions_map={"Projection": proj})
            alarm(f"Quarantine{proj}", q, 0, f"{proj} projection quarantined records (bad data, see reason)")
            f = cw.Metric(namespace=METRICS_NAMESPACE, metric_name="FreshnessSeconds", period=_1MIN,
                          statistic="Maximum", dimensions_map={"Projection": proj})
            alarm(f"Freshness{proj}", f, FRESHNESS_S, f"{proj} read model more than {FRESHNESS_S}s stale")
            widgets.append(cw.Row(cw.GraphWidget(title=f"{proj} freshness (s) / quarantined", width=24,
                                                 left=[f], right=[q])))
        widgets.append(cw.Row(cw.GraphWidget(
            title="changes stream: incoming records / write throttles", width=24,
            left=[stack.stream.metric_incoming_records(period=_1MIN)],
            right=[stack.stream.metric_write_provisioned_throughput_exceeded(period=_1MIN)])))
        alarm("StreamWriteThrottles", stack.stream.metric_write_provisioned_throughput_exceeded(
            period=_1MIN, statistic="Sum"), 0, "changes stream throttled writes (add shards: docs/capacity.md)")
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{stack.config.prefix}operations",
                                      widgets=[[w] for w in widgets])


def _specs(name: str) -> bool:
    """True when `name` is a declared stream consumer (the search API is not)."""
    from ingestion.functions import FUNCTIONS_BY_NAME

    spec = FUNCTIONS_BY_NAME.get(name)
    return spec is not None and any(m.kind in ("kinesis", "dynamodb") for m in spec.mappings)
