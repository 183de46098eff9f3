variable "project_id" {
  description = "Google Cloud project to deploy into (it may be empty: every API this service needs is enabled here)."
  type        = string
}

variable "region" {
  description = "Region of the functions, the Cloud SQL instance, the queue, the scheduler job and the buckets."
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Prefix of every resource name (functions are <name>-<group>); lower-case letters, digits and hyphens."
  type        = string
  default     = "agents"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "domain" {
  description = "Domain served by the load balancer (its Google-managed certificate is issued for it once its A record points at the load balancer's address)."
  type        = string
}

variable "source_dir" {
  description = "Folder holding the staged function archives <group>.zip (written by scripts/stage_functions.py)."
  type        = string
  default     = "../build/functions"
}

variable "service_version" {
  description = "Version reported by GET /health (Cloud Build passes the commit's short SHA)."
  type        = string
  default     = "0.1.0"
}

variable "log_level" {
  description = "LOG_LEVEL of every function: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "vertex_location" {
  description = "Vertex AI location of the Gemini models (VERTEX_LOCATION)."
  type        = string
  default     = "global"
}

variable "anthropic_vertex_region" {
  description = "Vertex AI region of the Claude models (ANTHROPIC_VERTEX_REGION); Claude must be enabled in Model Garden first."
  type        = string
  default     = "us-east5"
}

variable "default_model_provider" {
  description = "Provider of an agent definition that names none: google-vertex, anthropic-vertex or test."
  type        = string
  default     = "google-vertex"

  validation {
    condition     = contains(["google-vertex", "anthropic-vertex", "test"], var.default_model_provider)
    error_message = "default_model_provider must be google-vertex, anthropic-vertex or test."
  }
}

variable "extra_env" {
  description = "Further environment variables for every function (e.g. ACCESS_TOKEN_TTL_S); they may not override the database, queue or secret settings that Terraform derives."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for key in keys(var.extra_env) :
      !can(regex("^(DB_|DATABASE_URL$|INSTANCE_CONNECTION_NAME$|TASKS_|EXECUTION_MAX_ATTEMPTS$|SECRET_KEY$|APP_ENV$|ARTIFACTS_BUCKET$|SIGNING_SERVICE_ACCOUNT$|THREADS$|WORKERS$)", key))
    ])
    error_message = "extra_env may not set DB_*, DATABASE_URL, INSTANCE_CONNECTION_NAME, TASKS_*, EXECUTION_MAX_ATTEMPTS, SECRET_KEY, APP_ENV, ARTIFACTS_BUCKET, SIGNING_SERVICE_ACCOUNT, THREADS or WORKERS: Terraform derives them."
  }
}

variable "secret_key" {
  description = "SECRET_KEY (JWT signing key, at least 32 bytes). Leave null to have Terraform generate 64 random characters. Either way the value is written once to Secret Manager as a write-only argument and never stored in the Terraform state."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = var.secret_key == null || length(coalesce(var.secret_key, "x")) >= 32
    error_message = "secret_key must be at least 32 characters."
  }
}

variable "secret_key_version" {
  description = "Bump to write a new SECRET_KEY version (rotation: every function is redeployed with it and every issued token stops working)."
  type        = number
  default     = 1
}

variable "credentials_key_version" {
  description = "Bump to write a new CREDENTIALS_KEY version: credentials sealed under the old one stop opening (their owners store them again)."
  type        = number
  default     = 1
}

variable "deployer_service_account" {
  description = "Email of the service account that runs Cloud Build (terraform apply and the migrations). It becomes a Cloud SQL IAM user with cloudsqlsuperuser, which owns the schema."
  type        = string
}

variable "db_tier" {
  description = "Cloud SQL machine type (Enterprise edition). The connection budget in locals.tf assumes at least 2 vCPUs and 7.5 GB for 250 connections."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_availability_type" {
  description = "ZONAL (one zone, cheaper) or REGIONAL (a standby in a second zone with automatic failover)."
  type        = string
  default     = "REGIONAL"

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.db_availability_type)
    error_message = "db_availability_type must be ZONAL or REGIONAL."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the Cloud SQL instance (both Terraform's guard and the API's). Set false only to tear down a test project."
  type        = bool
  default     = true
}

variable "workspace_retention_days" {
  description = "Days after which files under workspaces/ (the agents' scratch trees) are deleted from the bucket; the artifacts the runs produced live under artifacts/ and are kept."
  type        = number
  default     = 30
}

variable "noncurrent_retention_days" {
  description = "Days a replaced or deleted object version is kept in the artifacts bucket before it is deleted for good."
  type        = number
  default     = 30
}

variable "requests_per_minute_per_address" {
  description = "Requests per client IP address per minute that Cloud Armor lets through to the functions (more get 429). Above the service's own RATE_LIMIT_PER_MINUTE per user, since offices share an address; it stops floods before they cost an invocation, unauthenticated ones included."
  type        = number
  default     = 1200

  validation {
    condition     = var.requests_per_minute_per_address >= 60
    error_message = "Allow at least one request per second per address."
  }
}
