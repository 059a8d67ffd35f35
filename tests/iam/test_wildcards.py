import pytest

from policycheck.iam.wildcards import some_string_matches, wildcard_match

PREFIX = "arn:aws:s3:::b/"


@pytest.mark.parametrize(
    ("pattern", "covers"),
    [
        ("arn:aws:s3:::b/*", True),
        ("*", True),
        ("arn:aws:s3:::b*", True),
        ("arn:aws:s3:::*", True),
        ("arn:aws:s3:::*/*", True),
        ("arn:aws:s3:::b/?*", True),
        ("arn:aws:s3:::b/*?", True),
        ("arn:aws:s3:::b/??*", False),  # one-character keys escape
        ("arn:aws:s3:::b/logs/*", False),
        ("arn:aws:s3:::b/logs*", False),
        ("arn:aws:s3:::b", False),
        ("arn:aws:s3:::b/", False),
        ("arn:aws:s3:::b/?", False),
        ("arn:aws:s3:::c/*", False),
        ("arn:aws:s3:::bb*", False),
        ("arn:aws:s3:::b/*x", False),
    ],
)
def test_covers_every_object(pattern: str, covers: bool) -> None:
    """A pattern covers every object when no object ARN escapes it."""
    assert (not some_string_matches([PREFIX + "?*"], [pattern])) is covers


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("s3:Delete*", "s3:DeleteObjectVersion", True),
        ("s3:DeleteObject?ersion", "s3:DeleteObjectVersion", True),
        ("s3:Delete[Object]", "s3:DeleteO", False),  # brackets are literal in IAM
        ("s3:Delete[Object]", "s3:Delete[Object]", True),
        ("s3:get*", "s3:GetObject", False),
    ],
)
def test_wildcard_match(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value) is matches


def test_actions_match_case_insensitively() -> None:
    assert wildcard_match("S3:DELETE*", "s3:DeleteObject", case_sensitive=False)
