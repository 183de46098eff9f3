# One Cloud Function (2nd gen) per folder under functions/, each built from its staged archive
# (main.py at the root, core/ beside it, requirements.txt from uv.lock) and running as its own
# service account with its own slice of the connection budget.
resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  project     = var.project_id
  location    = var.region
  name        = "${var.name}-${each.key}"
  description = each.value.public ? "${each.key} routes (/${each.key}/...)" : "Cloud Tasks worker: executions, webhooks, sweeper"

  build_config {
    runtime           = "python311"
    entry_point       = "entry"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    available_cpu                    = "1" # concurrency above 1 needs a whole CPU
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout_s
    all_traffic_on_latest_revision   = true
    # public groups: only through the load balancer. The worker: only from Google's internal
    # sources in this project (Cloud Tasks and Cloud Scheduler count as internal when they call
    # its run.app URL), and IAM admits only the invoker account.
    ingress_settings      = each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY"
    environment_variables = local.function_env[each.key]

    secret_environment_variables {
      key        = "SECRET_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.secret_key.secret_id
      version    = google_secret_manager_secret_version.secret_key.version
    }

    # only the functions that seal or open users' credentials hold their key
    dynamic "secret_environment_variables" {
      for_each = each.value.credentials ? ["CREDENTIALS_KEY"] : []
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.credentials_key.secret_id
        version    = google_secret_manager_secret_version.credentials_key.version
      }
    }
  }

  lifecycle {
    precondition {
      # Cloud Run gives the deterministic URL only to names that fit one DNS label
      condition     = length("${var.name}-${each.key}-${data.google_project.this.number}") <= 63
      error_message = "${var.name}-${each.key}-<project number> is longer than 63 characters: shorten var.name."
    }
    precondition {
      condition     = !each.value.database || each.value.db_pool_size + each.value.db_max_overflow >= each.value.threads
      error_message = "${each.key}: db_pool_size + db_max_overflow must be at least its threads."
    }
  }

  depends_on = [
    google_project_iam_member.function,
    google_secret_manager_secret_iam_member.secret_key,
    google_secret_manager_secret_iam_member.credentials_key,
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_push,
    google_storage_bucket_iam_member.build_reads_sources,
  ]
}

# Public groups: anyone may invoke them (the app checks bearer tokens itself); their ingress
# setting admits only the load balancer.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = local.public_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# The worker: only the account Cloud Tasks and Cloud Scheduler sign their tokens as.
resource "google_cloud_run_v2_service_iam_member" "worker" {
  for_each = local.worker_functions

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = google_service_account.tasks_invoker.member
}
