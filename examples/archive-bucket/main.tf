# The evidence archive `policycheck archive` writes to: a bucket with versioning and
# Object Lock (COMPLIANCE, 3 years by default, so that no one, the account's root
# included, can delete or shorten a night's evidence), private, encrypted, and the role
# that archives: it can add objects under the prefix and read them back, never delete.
# Its policy is what `policycheck iam-policy --archive s3://BUCKET/nightly` prints.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "bucket" {
  description = "Name of the evidence bucket, e.g. acme-dr-evidence"
  type        = string
}

variable "prefix" {
  description = "Where the nightly report sets go (the PREFIX of s3://BUCKET/PREFIX)"
  type        = string
  default     = "nightly"
}

variable "retention_years" {
  description = "Default Object Lock retention of each object (policycheck archive --retain sets it per object)"
  type        = number
  default     = 3
}

variable "archive_role_trust_policy" {
  description = "Who may assume the archive role: `policycheck iam-policy --trust github --repo OWNER/REPO`"
  type        = string
}

resource "aws_s3_bucket" "evidence" {
  bucket              = var.bucket
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    default_retention {
      mode  = "COMPLIANCE"
      years = var.retention_years
    }
  }
  depends_on = [aws_s3_bucket_versioning.evidence]
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  ignore_public_acls      = true
  block_public_policy     = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_iam_role" "archive" {
  name               = "policycheck-archive"
  assume_role_policy = var.archive_role_trust_policy
}

# As `policycheck iam-policy --archive s3://BUCKET/PREFIX` prints it.
data "aws_iam_policy_document" "archive" {
  statement {
    sid       = "PolicycheckArchiveBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketObjectLockConfiguration"]
    resources = [aws_s3_bucket.evidence.arn]
  }
  statement {
    sid = "PolicycheckArchiveObjects"
    actions = [
      "s3:PutObject",
      "s3:PutObjectRetention",
      "s3:AbortMultipartUpload",
      "s3:GetObject",
    ]
    resources = ["${aws_s3_bucket.evidence.arn}/${var.prefix}/*"]
  }
}

resource "aws_iam_role_policy" "archive" {
  name   = "policycheck-archive"
  role   = aws_iam_role.archive.id
  policy = data.aws_iam_policy_document.archive.json
}

output "archive" {
  value = "s3://${aws_s3_bucket.evidence.id}/${var.prefix}"
}

output "archive_role_arn" {
  value = aws_iam_role.archive.arn
}
