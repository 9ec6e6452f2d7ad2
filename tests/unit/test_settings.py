from __future__ import annotations

import json

from cqrs.settings import Settings


def test_environment_overrides_the_stack_state_file(tmp_path):
    (tmp_path / "stack.json").write_text(json.dumps({"endpoints": {
        "aws_endpoint_url": "http://127.0.0.1:1111", "opensearch_url": "http://127.0.0.1:2222",
        "postgres_dsn": "postgresql://postgres@127.0.0.1:3333/warehouse"}}))
    s = Settings.from_env({"CQRS_STATE_DIR": str(tmp_path), "CQRS_OPENSEARCH_URL": "https://search.example"})
    assert s.aws_endpoint_url == "http://127.0.0.1:1111"
    assert s.opensearch_url == "https://search.example"
    assert s.warehouse_dsn.endswith(":3333/warehouse")
    assert s.local


def test_without_a_stack_the_real_aws_endpoints_are_used(tmp_path):
    s = Settings.from_env({"CQRS_STATE_DIR": str(tmp_path), "CQRS_TABLE_PREFIX": "prod-"})
    assert s.aws_endpoint_url is None and not s.local
    assert s.table("Orders") == "prod-Orders"
