# The one bucket of the service: artifacts/ (files users upload and runs produce) and
# workspaces/ (the agents' working trees, rebuilt from nothing if lost).
resource "google_storage_bucket" "artifacts" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (enable DATA_READ/DATA_WRITE for storage.googleapis.com where required); legacy usage logs would need a second bucket.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}-artifacts"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  # replaced and deleted versions are kept for a while (undo), then deleted for good
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = var.workspace_retention_days
      matches_prefix = ["workspaces/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# Staged function sources, one archive per group, named by content so a changed archive is a
# new object and redeploys only that function.
resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Build inputs only; Cloud Audit Logs record who changed them.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name}-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  bucket = google_storage_bucket.sources.name
  name   = "functions/${each.key}-${filemd5("${path.module}/${var.source_dir}/${each.key}.zip")}.zip"
  source = "${path.module}/${var.source_dir}/${each.key}.zip"
}

# Function images, with old ones cleaned up (the default gcf-artifacts repository keeps all).
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; images hold only the open source of this service.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name}-functions"
  format        = "DOCKER"
  description   = "Images of the ${var.name} functions"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.apis]
}
