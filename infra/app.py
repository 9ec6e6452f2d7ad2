"""The CDK app: `make synth` (offline; templates in infra/cdk.out/ with cdk-nag applied) and
`make deploy` (docs/deploy.md)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `cd infra && python app.py`

import aws_cdk as cdk

from infra.config import InfraConfig
from infra.nag import apply_nag
from infra.stack import CqrsStack

OUTDIR = Path(__file__).resolve().parent / "cdk.out"


def build_app(context: dict | None = None, outdir: str | None = None) -> tuple[cdk.App, CqrsStack]:
    # cdk.json's context applies whether the CDK CLI or `python app.py` runs the app.
    merged = {**json.loads((Path(__file__).parent / "cdk.json").read_text())["context"], **(context or {})}
    app = cdk.App(context=merged, outdir=outdir or os.environ.get("CDK_OUTDIR") or str(OUTDIR))
    config = InfraConfig.from_context(app.node.try_get_context)
    # Environment-agnostic unless the deploy passes an account/region (cdk deploy sets these).
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT"):
        env = cdk.Environment(account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ.get("CDK_DEFAULT_REGION"))
    stack = CqrsStack(app, app.node.try_get_context("stackName") or "CqrsAnalytics", config=config, env=env,
                      description="CQRS analytics pipeline: DynamoDB -> Kinesis -> Lambda read models")
    apply_nag(app, stack)
    return app, stack


if __name__ == "__main__":
    app, _ = build_app()
    assembly = app.synth()
    for s in assembly.stacks:
        print(f"synthesized {s.stack_name} -> {Path(assembly.directory) / s.template_file}")
