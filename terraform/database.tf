resource "google_sql_database_instance" "main" {
  #checkov:skip=CKV_GCP_60:A public IP with no authorized networks accepts only the Cloud SQL connectors' mTLS connections with IAM-checked ephemeral certificates; a private IP would need a VPC, a Serverless VPC Access connector and Private Service Access for every function.
  #checkov:skip=CKV2_GCP_13:log_duration writes one log line for every statement (without its text): the largest logging cost for no diagnosis; Query Insights keeps per-statement latency.
  #checkov:skip=CKV_GCP_79:PostgreSQL 16 is the version the service is built and tested on (the embedded pgserver is 16); move to a newer major version deliberately, with its own tests.
  project             = var.project_id
  name                = "${var.name}-pg"
  region              = var.region
  database_version    = "POSTGRES_16"
  deletion_protection = var.db_deletion_protection

  settings {
    # db-custom-* tiers are Enterprise; PostgreSQL 16 would default to Enterprise Plus
    edition                     = "ENTERPRISE"
    tier                        = var.db_tier
    availability_type           = var.db_availability_type
    disk_type                   = "PD_SSD"
    disk_autoresize             = true
    deletion_protection_enabled = var.db_deletion_protection

    ip_configuration {
      ipv4_enabled = true
      # the connectors always present a client certificate issued by the instance
      ssl_mode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "03:00"
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 14
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7 # Sunday
      hour         = 4
      update_track = "stable"
    }

    # slow queries are found here, normalised (no parameter values), instead of in the logs
    insights_config {
      query_insights_enabled  = true
      query_string_length     = 1024
      record_application_tags = false
      record_client_address   = false
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }
    database_flags {
      name  = "max_connections"
      value = tostring(local.db_max_connections)
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_messages"
      value = "warning"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    # -1 (CIS 6.2.7): a logged statement carries its bind parameters (emails, token hashes);
    # Query Insights above shows slow statements without them
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "role,ddl"
    }
  }

  lifecycle {
    precondition {
      condition     = local.db_connections_needed <= local.db_max_connections - local.db_reserved_connections
      error_message = "The functions' pools could open ${local.db_connections_needed} connections; max_connections ${local.db_max_connections} less the reserve ${local.db_reserved_connections} allows ${local.db_max_connections - local.db_reserved_connections}: lower max_instances or pool sizes in locals.tf, or raise max_connections with the tier."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_sql_database" "app" {
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  name     = "agents"
}

# One IAM database user per function, named as Cloud SQL names service accounts: the email
# without ".gserviceaccount.com". They get their table privileges from scripts/grant_db_access.py
# (run by Cloud Build after the migrations), through the NOLOGIN role agents_app.
resource "google_sql_user" "function" {
  for_each = local.functions

  project  = var.project_id
  instance = google_sql_database_instance.main.name
  name     = trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"
}

# The deployer runs the migrations and so owns the schema: a member of cloudsqlsuperuser (which
# owns the database's public schema on Cloud SQL), with no password.
resource "google_sql_user" "deployer" {
  project        = var.project_id
  instance       = google_sql_database_instance.main.name
  name           = trimsuffix(var.deployer_service_account, ".gserviceaccount.com")
  type           = "CLOUD_IAM_SERVICE_ACCOUNT"
  database_roles = ["cloudsqlsuperuser"]
  # it owns the tables: PostgreSQL refuses to drop it while they exist
  deletion_policy = "ABANDON"
}
