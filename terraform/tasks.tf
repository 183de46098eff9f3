# Asynchronous runs and webhook deliveries: HTTP tasks POSTed to the worker with an OIDC token
# of the invoker account (audience: the worker's URL).
resource "google_cloud_tasks_queue" "runs" {
  project  = var.project_id
  name     = "${var.name}-runs"
  location = var.region

  rate_limits {
    # no more deliveries at once than the worker can hold (instances x concurrency); beyond
    # that Cloud Run would answer 429 and burn attempts
    max_concurrent_dispatches = local.functions[local.worker_group].max_instances * local.functions[local.worker_group].concurrency
    max_dispatches_per_second = 10
  }

  retry_config {
    # the same count the service uses (EXECUTION_MAX_ATTEMPTS) before failing a run for good
    max_attempts       = local.execution_max_attempts
    min_backoff        = "10s"
    max_backoff        = "300s"
    max_doublings      = 4
    max_retry_duration = "7200s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

# The sweeper: re-enqueues runs that lost their task or their worker, fails those out of attempts.
resource "google_cloud_scheduler_job" "sweep" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name}-sweep"
  description      = "POST /tasks/sweep on the worker every minute"
  schedule         = "* * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "120s"

  retry_config {
    retry_count = 0 # the next minute's run is the retry
  }

  http_target {
    http_method = "POST"
    uri         = "${local.worker_url}/tasks/sweep"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode("{}")

    oidc_token {
      service_account_email = google_service_account.tasks_invoker.email
      audience              = local.worker_url
    }
  }

  depends_on = [google_project_service.apis, google_cloud_run_v2_service_iam_member.worker]
}
