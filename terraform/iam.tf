# One service account per function, holding only what that function does (see local.functions);
# one more that Cloud Tasks and Cloud Scheduler sign their OIDC tokens as; one that builds the
# function images.

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "${var.name}-${each.key}"
  display_name = "${var.name}: ${each.key} function"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "tasks_invoker" {
  project      = var.project_id
  account_id   = "${var.name}-tasks-invoker"
  display_name = "${var.name}: Cloud Tasks and Cloud Scheduler calling the worker"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name}-fn-build"
  display_name = "${var.name}: builds the function images"
  depends_on   = [google_project_service.apis]
}

locals {
  # project-level roles, by which functions need them
  function_project_roles = merge(
    # every function reaches the database through the connector as its own IAM user
    { for group, fn in local.functions : "${group}/cloudsql.client" => { group = group, role = "roles/cloudsql.client" } },
    { for group, fn in local.functions : "${group}/cloudsql.instanceUser" => { group = group, role = "roles/cloudsql.instanceUser" } },
    # traces go to Google's OTLP endpoint
    { for group, fn in local.functions : "${group}/telemetry.tracesWriter" => { group = group, role = "roles/telemetry.tracesWriter" } },
    # only the functions that run agents call models
    { for group, fn in local.functions : "${group}/aiplatform.user" => { group = group, role = "roles/aiplatform.user" } if fn.models },
    # only the functions that hand work to the worker create tasks
    { for group, fn in local.functions : "${group}/cloudtasks.enqueuer" => { group = group, role = "roles/cloudtasks.enqueuer" } if fn.enqueues },
  )
}

resource "google_project_iam_member" "function" {
  for_each = local.function_project_roles

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.function[each.value.group].member
}

# Objects of the one artifacts bucket, for the functions that read or write artifacts and workspaces.
resource "google_storage_bucket_iam_member" "artifacts" {
  for_each = { for group, fn in local.functions : group => fn if fn.storage }

  bucket = google_storage_bucket.artifacts.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function[each.key].member
}

# The one secret, for every function (each signs or verifies tokens).
resource "google_secret_manager_secret_iam_member" "secret_key" {
  for_each = local.functions

  project   = var.project_id
  secret_id = google_secret_manager_secret.secret_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.key].member
}

# The credentials key: only for the functions that seal or open users' credentials.
resource "google_secret_manager_secret_iam_member" "credentials_key" {
  for_each = { for group, fn in local.functions : group => fn if fn.credentials }

  project   = var.project_id
  secret_id = google_secret_manager_secret.credentials_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.key].member
}

# A task with an OIDC token is created "as" the invoker account: enqueuers must be able to act as it.
resource "google_service_account_iam_member" "enqueuer_acts_as_invoker" {
  for_each = { for group, fn in local.functions : group => fn if fn.enqueues }

  service_account_id = google_service_account.tasks_invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.function[each.key].member
}

# Signed download URLs without a key: the function signs as itself through IAM signBlob.
resource "google_service_account_iam_member" "signs_as_itself" {
  for_each = { for group, fn in local.functions : group => fn if fn.signs }

  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.key].member
}

# The build account: write build logs, push images to our repository, read the staged sources.
resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_push" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}
