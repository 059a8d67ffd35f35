"""DynamoDB facts: continuous backups (point-in-time recovery) and Time to Live."""

from typing import Any

from policycheck.facts import FactSpec, register_fact


def _continuous_backups(client: Any, table: str, _account_id: str) -> dict[str, Any]:
    return client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]


def _time_to_live(client: Any, table: str, _account_id: str) -> dict[str, Any]:
    return client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]


CONTINUOUS_BACKUPS = register_fact(
    FactSpec(
        "dynamodb_table.continuous_backups",
        "dynamodb_table",
        "dynamodb",
        "dynamodb:DescribeContinuousBackups",
        _continuous_backups,
    )
)
TIME_TO_LIVE = register_fact(
    FactSpec(
        "dynamodb_table.ttl",
        "dynamodb_table",
        "dynamodb",
        "dynamodb:DescribeTimeToLive",
        _time_to_live,
    )
)
