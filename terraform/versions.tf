terraform {
  # 1.11: write-only arguments (the secret key never enters the state) and ephemeral resources
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = {
    app = var.name
  }
}

data "google_project" "this" {
  project_id = var.project_id
}
