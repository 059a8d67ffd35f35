variable "env" {
  description = "The environment (policy.yaml: environments)"
  type        = string
  default     = "dev"
}

variable "region" {
  description = "The environment's region (policy.yaml: environments.ENV.region)"
  type        = string
  default     = "eu-central-1"
}

variable "mcps" {
  description = "The MCP services (policy.yaml: mcps): one token table, repository, secret and service each"
  type        = set(string)
  default     = ["sharepoint", "outlook-mcp", "teams", "databricks"]
}

variable "client_secrets" {
  description = "Azure AD client secret per MCP, written once (rotated outside Terraform)"
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "audit_retention" {
  description = "Audit log lifecycle: archived to Glacier, then expired (SC.10.01.02)"
  type = object({
    archive_after_days = number
    expire_after_days  = number
  })
  default = { archive_after_days = 90, expire_after_days = 365 }
}

variable "tagged_images_kept" {
  description = "Tagged images each ECR repository keeps (SC.10.01.02: at least 10)"
  type        = number
  default     = 10
}

variable "subnet_ids" {
  description = "Private subnets of the MCP services (the network module's)"
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the MCP services (the network module's)"
  type        = list(string)
}
