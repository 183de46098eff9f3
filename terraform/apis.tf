locals {
  apis = [
    "aiplatform.googleapis.com",       # Gemini and Claude on Vertex AI
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",   # the functions
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com", # the sweeper
    "cloudtasks.googleapis.com",     # asynchronous runs and webhooks
    "compute.googleapis.com",        # the load balancer
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob for signed download URLs
    "logging.googleapis.com",
    "run.googleapis.com",           # functions (2nd gen) run on Cloud Run
    "secretmanager.googleapis.com", # SECRET_KEY
    "sqladmin.googleapis.com",      # Cloud SQL and its connector
    "storage.googleapis.com",       # artifacts and function sources
    "telemetry.googleapis.com",     # OTLP traces
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false # other things in the project may use them too
}
