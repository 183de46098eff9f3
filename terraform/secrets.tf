# SECRET_KEY signs every access and refresh token. Terraform generates it (or takes
# var.secret_key) and hands it to Secret Manager as a write-only argument: it is in neither the
# plan nor the state. The functions read a pinned version, so bumping var.secret_key_version
# writes a new key and redeploys every function with it.

ephemeral "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "secret_key" {
  project   = var.project_id
  secret_id = "${var.name}-secret-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "secret_key" {
  secret                 = google_secret_manager_secret.secret_key.id
  secret_data_wo         = var.secret_key != null ? var.secret_key : ephemeral.random_password.secret_key.result
  secret_data_wo_version = var.secret_key_version
}

# CREDENTIALS_KEY seals users' credentials (AES-256-GCM under its SHA-256). Generated like
# SECRET_KEY, written once as a write-only argument, and readable only by the functions that
# seal or open credentials (fn.credentials in locals.tf: agents, sessions, tasks, credentials).
# A new version (var.credentials_key_version) makes existing credentials unreadable: runs then
# fail credential_missing until their owners store them again.

ephemeral "random_password" "credentials_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "credentials_key" {
  project   = var.project_id
  secret_id = "${var.name}-credentials-key"

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "credentials_key" {
  secret                 = google_secret_manager_secret.credentials_key.id
  secret_data_wo         = ephemeral.random_password.credentials_key.result
  secret_data_wo_version = var.credentials_key_version
}
