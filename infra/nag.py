"""cdk-nag (AwsSolutions pack; v3 is a CDK policy-validation plugin: any unacknowledged error fails
the synth) and the findings we acknowledge, each with its reason. v3 acknowledges findings one by
one (`Rule[finding]`), so every wildcard is listed: a new one fails the synth until someone reads it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import CqrsStack

P = "AwsSolutions::AwsSolutions-"


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=P + rule, reason=reason))


def _arn(stack: cdk.Stack, construct: IConstruct) -> str:
    """How cdk-nag prints `Fn::GetAtt [X, Arn]` in a finding."""
    child = construct.node.default_child
    return f"<{stack.resolve(stack.get_logical_id(child))}.Arn>"  # type: ignore[arg-type]


def apply_nag(app: cdk.App, stack: CqrsStack) -> None:
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    _ack(stack, "L1", "python3.12 is the runtime the handlers and the dependency layer are built and tested for; "
                      "moving to a newer runtime is a deliberate upgrade, not a synth-time drift")
    # Unavoidable Resource "*": these APIs have no resource-level permissions.
    _ack(stack, "IAM5[Resource::*]",
         "X-Ray PutTraceSegments/PutTelemetryRecords (tracing), CloudWatch Logs delivery APIs of Step Functions "
         "logging, and Redshift Data API Describe/GetStatementResult/CancelStatement support no resource ARN")
    # CDK grant action groups, each statement scoped to one named resource.
    for action in ("s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"):
        _ack(stack, f"IAM5[Action::{action}]",
             f"CDK's bucket grant action group ({action}) on a single named bucket, not on every bucket")
    for bucket in (stack.lake_bucket, stack.failures_bucket, stack.athena_results, stack.access_logs):
        _ack(stack, f"IAM5[Resource::{_arn(stack, bucket)}/*]",
             "object keys are not known at deploy time; the statement is limited to this one bucket")
    for table in stack.tables.values():
        _ack(stack, f"IAM5[Resource::{_arn(stack, table)}/index/*]",
             "access to the table's own secondary indexes (queries by customer), granted with the table")
    if stack.domain is not None:
        _ack(stack, f"IAM5[Resource::{_arn(stack, stack.domain)}/*]",
             "index and document paths of this one domain are chosen at run time (aliases, reindex)")
        _ack(stack.domain, "OS1", "no VPC: the Lambda functions would need a VPC with NAT/endpoints for all the other "
                                  "services; access needs SigV4 (IAM) plus fine-grained access control and HTTPS")
        _ack(stack.domain, "OS3", "callers are Lambda functions without fixed IPs; access is by IAM identity (SigV4)")
        _ack(stack.domain, "OS5", "the access policy allows only this account's IAM principals (es:ESHttp* still "
                                  "needs an identity grant), and FGAC authenticates every request")
    _ack(stack.redshift_secret, "SMG4", "Redshift admin secret: rotate with the Secrets Manager hosted rotation "
                                        "for Redshift after deploy (docs/deploy.md); not deployed here to avoid a SAR "
                                        "application in the template")
    if stack.domain is not None and stack.domain.master_user_password is not None:
        _ack(stack.domain, "SMG4", "the FGAC master user is break-glass only (role mapping at setup); "
                                   "rotate by hand, documented in docs/deploy.md")
    _ack(stack.dlqs["events-delivery"], "SQS3", "this queue IS a dead-letter queue: EventBridge rule targets' DLQ")
    _ack(stack.api, "APIG4", "the search API is protected by API keys with a usage plan (throttle + quota), "
                             "the option chosen for this API; no end-user identity is involved")
    _ack(stack.api, "COG4", "no Cognito user pool: callers are services with API keys")
    _ack(stack.api, "APIG3", "WAF is an account-level choice; the stage throttles and requires an API key")
    _ack(stack.api, "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]",
         "API Gateway's account-level logging role needs exactly this AWS managed policy")
