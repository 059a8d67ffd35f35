"""Firehose facts: every delivery stream of an account and region, with every S3 location
it writes to; judged on the S3 bucket the logs are delivered to."""

from typing import Any

from policycheck.plugin.facts import FactSpec, FetchContext, UnknownAnswer
from policycheck.sources.aws.s3 import S3_BUCKET

#: Destination types whose ``S3DestinationDescription`` receives every record before it
#: is loaded (Firehose stages data in S3 and Redshift COPYs it from there).
STAGING_S3 = frozenset({"Redshift"})
#: The fields of an S3 location the check judges (an Extended S3 destination's
#: ProcessingConfiguration: a Lambda processor buffers records before it).
S3_LOCATION_KEYS = (
    "BucketARN",
    "BufferingHints",
    "EncryptionConfiguration",
    "ProcessingConfiguration",
)


def _s3_locations(destination: dict[str, Any]) -> list[dict[str, Any]]:
    """Every S3 location one destination of a stream writes to, labelled by ``delivery``:

    - ``primary``: the S3 or Extended S3 destination itself (every record);
    - ``intermediate``: Redshift's staging bucket (every record, before the COPY);
    - ``backup``: the S3 backup of another destination type (HTTP endpoint, Splunk,
      OpenSearch, Elasticsearch, Snowflake, Iceberg, Redshift) or of the Extended S3
      destination's source records, with its ``S3BackupMode`` (all or failed records);
    - ``other``: an S3 bucket named anywhere else in the description (use unknown).

    AWS repeats an Extended S3 destination as ``S3DestinationDescription``: an identical
    repeat is listed once."""
    found = _Locations()
    # Extended S3 before its plain-S3 repeat, so the repeat is the one dropped.
    keys = sorted(
        (key for key in destination if key.endswith("DestinationDescription")),
        key=lambda key: key != "ExtendedS3DestinationDescription",
    )
    for key in keys:
        description = destination[key]
        if isinstance(description, dict):
            found.add_known(key.removesuffix("DestinationDescription"), description)
    for key in keys:
        found.add_others(destination[key], key.removesuffix("DestinationDescription"))
    return found.locations


class _Locations:
    """The S3 locations found so far, each once."""

    def __init__(self) -> None:
        self.locations: list[dict[str, Any]] = []
        self.seen: set[int] = set()

    def add(self, delivery: str, kind: str, s3: dict[str, Any], mode: str | None = None) -> None:
        self.seen.add(id(s3))
        entry = {
            "delivery": delivery,
            "destination_type": kind,
            **{key: s3.get(key) for key in S3_LOCATION_KEYS},
            "S3BackupMode": mode,
        }
        if not any(
            {**entry, "destination_type": None} == {**known, "destination_type": None}
            for known in self.locations
        ):
            self.locations.append(entry)

    def add_known(self, kind: str, description: dict[str, Any]) -> None:
        """The places a destination of this ``kind`` documents as S3 locations."""
        mode = description.get("S3BackupMode")
        if kind in ("S3", "ExtendedS3"):
            self.add("primary", kind, description)
        elif isinstance(description.get("S3DestinationDescription"), dict):
            s3 = description["S3DestinationDescription"]
            if kind in STAGING_S3:
                self.add("intermediate", kind, s3)
            else:
                self.add("backup", kind, s3, mode)
        if isinstance(description.get("S3BackupDescription"), dict):
            self.add("backup", kind, description["S3BackupDescription"], mode)

    def add_others(self, value: Any, kind: str) -> None:
        """Any other bucket named anywhere in ``value``."""
        if isinstance(value, dict):
            if "BucketARN" in value and id(value) not in self.seen:
                self.add("other", kind, value)
            for item in value.values():
                self.add_others(item, kind)
        elif isinstance(value, list):
            for item in value:
                self.add_others(item, kind)


def _stream_names(firehose: Any) -> list[str]:
    """Every delivery stream name, page by page. A page that says more follow but brings
    no new name would repeat forever (or drop the rest): the listing is unknown."""
    names: dict[str, None] = {}  # ordered, each name once
    request: dict[str, Any] = {"Limit": 100}
    while True:
        page = firehose.list_delivery_streams(**request)
        fresh = [name for name in page["DeliveryStreamNames"] if name not in names]
        names.update(dict.fromkeys(fresh))
        if not page.get("HasMoreDeliveryStreams"):
            return list(names)
        if not fresh:
            raise UnknownAnswer(
                "ListingIncomplete",
                "ListDeliveryStreams says more streams follow but returned no new name after "
                f"{request.get('ExclusiveStartDeliveryStreamName')!r}",
            )
        request["ExclusiveStartDeliveryStreamName"] = page["DeliveryStreamNames"][-1]


def _describe_stream(firehose: Any, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A stream's description and all its destinations (the call pages destinations). A
    stream that cannot be described makes the whole fact an error: it may write to any
    bucket."""
    request: dict[str, Any] = {"DeliveryStreamName": name}
    destinations: list[dict[str, Any]] = []
    while True:
        description = firehose.describe_delivery_stream(**request)["DeliveryStreamDescription"]
        page = description.get("Destinations") or []
        known = {d.get("DestinationId") for d in destinations}
        fresh = [d for d in page if d.get("DestinationId") not in known]
        destinations += fresh
        if not description.get("HasMoreDestinations"):
            return description, destinations
        if not fresh:
            raise UnknownAnswer(
                "ListingIncomplete",
                f"DescribeDeliveryStream {name} says more destinations follow but "
                "returned no new one",
            )
        request["ExclusiveStartDestinationId"] = fresh[-1]["DestinationId"]


def _firehose_streams(ctx: FetchContext) -> list[dict[str, Any]]:
    """Every delivery stream of the account and region (any state, any source type), with
    every S3 location it writes to (see _s3_locations)."""
    firehose = ctx.client("firehose")
    streams = []
    for name in _stream_names(firehose):
        description, destinations = _describe_stream(firehose, name)
        streams.append(
            {
                "name": name,
                "status": description.get("DeliveryStreamStatus"),
                "encryption": description.get("DeliveryStreamEncryptionConfiguration"),
                "s3_destinations": [
                    location
                    for destination in destinations
                    for location in _s3_locations(destination)
                ],
            }
        )
    return streams


FIREHOSE_STREAMS = FactSpec(
    "s3_account.firehose_streams",
    S3_BUCKET,
    ("firehose:ListDeliveryStreams", "firehose:DescribeDeliveryStream"),
    _firehose_streams,
    scope="account",
)
