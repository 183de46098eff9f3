output "base_url" {
  description = "The service's one public URL (the load balancer); its certificate becomes active once the domain's A record points at ip_address."
  value       = "https://${var.domain}"
}

output "ip_address" {
  description = "The load balancer's address: create an A record of var.domain pointing at it."
  value       = google_compute_global_address.api.address
}

output "artifacts_bucket" {
  description = "The artifacts and workspaces bucket."
  value       = google_storage_bucket.artifacts.name
}

output "tasks_queue" {
  description = "The Cloud Tasks queue (TASKS_QUEUE)."
  value       = google_cloud_tasks_queue.runs.id
}

output "worker_url" {
  description = "The tasks function's URL (TASKS_WORKER_URL), reachable only by Cloud Tasks and Cloud Scheduler."
  value       = local.worker_url
}

output "database_connection_name" {
  description = "Cloud SQL instance connection name (INSTANCE_CONNECTION_NAME), for migrations through the connector."
  value       = google_sql_database_instance.main.connection_name
}

output "database_name" {
  description = "The application database (DB_NAME)."
  value       = google_sql_database.app.name
}

output "function_db_users" {
  description = "The functions' IAM database users, granted table privileges by scripts/grant_db_access.py."
  value       = [for user in google_sql_user.function : user.name]
}

output "function_urls" {
  description = "Each function's own URL (ingress admits only the load balancer or, for the worker, Cloud Tasks and Cloud Scheduler)."
  value       = { for group, fn in google_cloudfunctions2_function.function : group => fn.url }
}
