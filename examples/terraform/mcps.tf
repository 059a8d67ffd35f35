# Each MCP (SC.10.01, SC.10.03.01): its OAuth token table (PITR 35 days, TTL, AWS-managed
# key), image repository keeping the last tagged images, client secret, task role that
# reaches its own table only, and ECS service.

resource "aws_ecs_cluster" "main" {
  name = "aiconnectors-${var.env}-aiconnectors"
}

resource "aws_dynamodb_table" "tokens" {
  for_each     = var.mcps
  name         = "mcp-oauth-storage-${each.key}-${var.env}"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {
    name = "pk"
    type = "S"
  }
  point_in_time_recovery {
    enabled                 = true
    recovery_period_in_days = 35
  }
  ttl {
    enabled        = true
    attribute_name = "expires_at"
  }
  server_side_encryption {
    enabled = true # the AWS-managed key, alias/aws/dynamodb
  }
}

resource "aws_ecr_repository" "mcp" {
  for_each             = var.mcps
  name                 = "mcp-${each.key}"
  image_tag_mutability = "IMMUTABLE"
}

resource "aws_ecr_lifecycle_policy" "mcp" {
  for_each   = var.mcps
  repository = aws_ecr_repository.mcp[each.key].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last ${var.tagged_images_kept} tagged images"
      selection = {
        tagStatus      = "tagged"
        tagPatternList = ["*"]
        countType      = "imageCountMoreThan"
        countNumber    = var.tagged_images_kept
      }
      action = { type = "expire" }
    }]
  })
}

resource "aws_ssm_parameter" "client_secret" {
  for_each = var.mcps
  name     = "/aiconnectors/${var.env}/mcps/${each.key}/client-secret"
  type     = "SecureString"
  value    = lookup(var.client_secrets, each.key, "set-me")
  lifecycle {
    ignore_changes = [value] # rotated outside Terraform (§4.2)
  }
}

data "aws_iam_policy_document" "task_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "task" {
  for_each           = var.mcps
  name               = "mcp-${each.key}-main-svc-${var.env}-task"
  assume_role_policy = data.aws_iam_policy_document.task_trust.json
}

data "aws_iam_policy_document" "token_cache" {
  for_each = var.mcps
  statement {
    sid       = "TokenCache"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.tokens[each.key].arn]
  }
}

resource "aws_iam_role_policy" "token_cache" {
  for_each = var.mcps
  name     = "token-cache"
  role     = aws_iam_role.task[each.key].id
  policy   = data.aws_iam_policy_document.token_cache[each.key].json
}

resource "aws_ecs_task_definition" "mcp" {
  for_each                 = var.mcps
  family                   = "mcp-${each.key}-main-svc-${var.env}"
  task_role_arn            = aws_iam_role.task[each.key].arn
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([{
    name      = "app"
    image     = "${aws_ecr_repository.mcp[each.key].repository_url}:latest"
    memory    = 512
    essential = true
  }])
}

resource "aws_ecs_service" "mcp" {
  for_each        = var.mcps
  name            = "mcp-${each.key}-main-svc"
  cluster         = aws_ecs_cluster.main.id
  task_definition = aws_ecs_task_definition.mcp[each.key].arn
  desired_count   = 1
  launch_type     = "FARGATE"
  network_configuration {
    subnets         = var.subnet_ids
    security_groups = var.security_group_ids
  }
}
