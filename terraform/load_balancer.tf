# The one HTTPS entry point: a global external Application Load Balancer with a serverless NEG
# per public function; /<group> and /<group>/* go to that group's function, which serves its
# routes under /<group>/... as well as at its own root.

resource "google_compute_global_address" "api" {
  project    = var.project_id
  name       = "${var.name}-api"
  depends_on = [google_project_service.apis]
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.public_functions

  project               = var.project_id
  name                  = "${var.name}-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_function {
    function = google_cloudfunctions2_function.function[each.key].name
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.public_functions

  project               = var.project_id
  name                  = "${var.name}-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"

  security_policy = google_compute_security_policy.api.id
  # the console's assets are public and named by their content hash: the edge caches them
  enable_cdn = each.key == "console"
  # HTTPS only, for a year, on every answer (the app adds it too behind TLS)
  custom_response_headers = [
    "Strict-Transport-Security: max-age=31536000; includeSubDomains",
    "X-Content-Type-Options: nosniff",
  ]

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

# Cloud Armor in front of every function: a flood from one address is answered 429 at the edge,
# before it costs an invocation (the service counts each user's requests itself, across
# instances: RATE_LIMIT_PER_MINUTE).
resource "google_compute_security_policy" "api" {
  project     = var.project_id
  name        = "${var.name}-api"
  description = "Per-address rate limit and the Log4j lookup block"

  rule {
    action      = "deny(403)"
    priority    = 900
    description = "Log4j JNDI lookups (CVE-2021-44228): nothing here runs Java, but nothing needs them"
    match {
      expr {
        expression = "evaluatePreconfiguredExpr('cve-canary')"
      }
    }
  }

  rule {
    action      = "throttle"
    priority    = 1000
    description = "Requests per client address per minute"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.requests_per_minute_per_address
        interval_sec = 60
      }
    }
  }

  rule {
    action      = "allow"
    priority    = 2147483647
    description = "Everything else"
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_url_map" "api" {
  project = var.project_id
  name    = "${var.name}-api"
  # anything outside the groups (/, /openapi.json, other hosts) gets the health function's
  # JSON 404
  default_service = google_compute_backend_service.function["health"].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "groups"
  }

  path_matcher {
    name            = "groups"
    default_service = google_compute_backend_service.function["health"].id

    dynamic "path_rule" {
      for_each = local.public_functions
      content {
        paths   = [local.group_paths[path_rule.key], "${local.group_paths[path_rule.key]}/*"]
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  name    = "${var.name}-api"

  managed {
    domains = [var.domain]
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_ssl_policy" "modern" {
  project         = var.project_id
  name            = "${var.name}-modern-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
  depends_on      = [google_project_service.apis]
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "${var.name}-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.modern.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
}

# Plain HTTP only redirects to HTTPS.
resource "google_compute_url_map" "http_redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "http_redirect" {
  project = var.project_id
  name    = "${var.name}-http-redirect"
  url_map = google_compute_url_map.http_redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.http_redirect.id
}
