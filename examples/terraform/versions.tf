# The AI connectors platform of one environment, as the policy (policy.yaml) wants it.
# Plan it, judge the plan, apply it:
#   terraform init
#   terraform plan -out tfplan && terraform show -json tfplan > plan.json
#   policycheck plan plan.json --env dev
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
  # State goes to the state bucket this configuration creates; bootstrap with local state,
  # then add: backend "s3" { bucket = "aiconnectors-terraform-state-dev"
  #   key = "platform.tfstate" dynamodb_table = "aiconnectors-terraform-lock-dev" }
}

provider "aws" {
  region = var.region
}
