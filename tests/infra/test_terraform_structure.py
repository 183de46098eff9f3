"""terraform/ read as data (python-hcl2): what the deployment promises, checked without a provider.

`terraform validate` needs the google provider, which cannot be downloaded here: Cloud Build runs
it. These tests check what validate would not anyway: one function per group with the right
entry point and source, who may invoke what, that every setting is set or deliberately left at
its default, the database connection budget, the queue's retry policy, least-privilege roles.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from core.config import Settings
from core.runs.following import READ_THREADS
from functions import GROUPS
from tests.support.terraform import ROOT, TerraformConfig, single

# Settings the functions leave at the service's default, and why. A new setting must be added
# to the env map in terraform/locals.tf or here, with its reason.
DELIBERATELY_DEFAULTED = {
    "DATABASE_URL": "production uses the Cloud SQL connector (INSTANCE_CONNECTION_NAME)",
    "DB_PASSWORD": "IAM database authentication: the functions' users have no password",
    "DB_POOL_RECYCLE_S": "30 min is well inside Cloud SQL's idle limits; IAM tokens are checked "
    "only at login",
    "DB_POOL_TIMEOUT_S": "no request waits for a connection: pool + overflow >= concurrency",
    "JWT_ISSUER": "a constant of the service, the same in every environment",
    "JWT_AUDIENCE": "a constant of the service, the same in every environment",
    "ACCESS_TOKEN_TTL_S": "the default (30 min) is the production policy; extra_env overrides",
    "REFRESH_TOKEN_TTL_S": "the default (14 days) is the production policy; extra_env overrides",
    "LOGIN_MAX_FAILURES": "the default lockout policy; extra_env overrides",
    "LOGIN_WINDOW_S": "the default lockout policy; extra_env overrides",
    "PASSWORD_HASH_TIME_COST": "RFC 9106's low-memory profile; extra_env overrides",
    "PASSWORD_HASH_MEMORY_KIB": "64 MiB per login fits the functions' memory; extra_env overrides",
    "MAX_BODY_BYTES": "1 MiB JSON bodies, the API contract",
    "VERTEX_BASE_URL": "only for tests and Private Service Connect endpoints",
    "ANTHROPIC_VERTEX_BASE_URL": "only for tests and Private Service Connect endpoints",
    "REPO_ROOT": "no repository is mounted into the functions",
    "WORKSPACE_DIR": "workspaces live in the bucket (ARTIFACTS_BUCKET), not on local disk",
    "TASKS_EMULATOR_HOST": "tests only: production talks to Cloud Tasks",
    "TASKS_SHARED_SECRET": "the local dispatcher's secret; production workers demand OIDC tokens",
    "EXECUTION_LEASE_S": "60 s with a heartbeat every 20 s suits runs of any length",
    "SWEEP_INTERVAL_S": "make dev's in-process sweeper only: production sweeps by Cloud Scheduler",
    "ARTIFACT_MAX_BYTES": "25 MiB, under Cloud Run's 32 MiB request limit",
    "INPUT_FILES_MAX_BYTES": "20 MiB of files per message, what Gemini takes inline",
    "USER_MAX_CONCURRENT_RUNS": "4 unfinished runs per user; admins override per user",
    "USER_DAILY_TOKENS": "unlimited by default; admins set per-user budgets",
    "USER_DAILY_COST_USD": "unlimited by default; admins set per-user budgets",
    "RATE_LIMIT_PER_MINUTE": "600 requests per user per minute; Cloud Armor limits per address",
    "USER_MAX_STREAMS": "20 open streams per user per instance: a console and a few followers",
    "CREDENTIALS_OLD_KEYS": "empty until a key rotation, set for its length through extra_env",
    "SIGNED_URL_TTL_S": "15 min, the longest the service allows",
    "KNOWLEDGE_DOCUMENT_MAX_BYTES": "20 MiB per document, under Cloud Run's 32 MiB request limit",
    "KNOWLEDGE_MAX_DOCUMENTS": "1,000 documents per user; extra_env overrides",
    "KNOWLEDGE_MAX_BYTES": "500 MiB of documents per user; extra_env overrides",
    "KNOWLEDGE_MAX_CHUNKS": "200,000 chunks per user (~400 MB of 256-d vectors and text)",
    "WEBHOOK_ALLOWED_HOSTS": "empty: webhooks may only target public addresses",
    "WEBHOOK_TIMEOUT_S": "10 s per delivery attempt; Cloud Tasks retries",
    "REQUEST_BODY_TIMEOUT_S": "10 s: a client that stops sending its body frees its thread",
    "ALLOWED_ORIGINS": "empty: same origin only, until a console is served from another origin",
    "WORKFLOW_MAX_PARALLEL": "4 steps at once; their short transactions share the function's "
    "pool, which caps the connections whatever the steps",
    "OTLP_ENDPOINT": "the default is Google's OTLP endpoint (telemetry.googleapis.com)",
    "TRACE_INCLUDE_CONTENT": "off: prompts and outputs stay out of traces in production",
    "MCP_CONNECT_TIMEOUT_S": "10 s to connect to an MCP server; a slow one fails the tool call",
    "MCP_CALL_TIMEOUT_S": "60 s per MCP tool call, well inside a run's timeout",
    "MCP_TOOLS_TTL_S": "tool lists are cached 5 min per server and credential",
    "A2A_CONNECT_TIMEOUT_S": "10 s to connect to a remote A2A agent, as for MCP servers",
    "A2A_CALL_TIMEOUT_S": "a call waits 2 min for the remote task, inside a run's timeout",
    "A2A_CARD_TTL_S": "agent cards are cached 5 min per card URL and headers",
    "EVAL_CONCURRENCY": "8 cases of an eval at once: each an async run under the user's quota",
    "EVAL_STALL_S": "the sweeper drives an eval nobody drove for a minute",
    "EVAL_MAX_RUNS": "1,000 runs per eval, under the user's daily budgets anyway",
    "APPROVAL_TTL_S": "a day to decide on a tool call before the run is cancelled",
}
# only these folders may be reached without a token (their own routes still check bearer tokens)
WORKER_GROUPS = {"tasks"}
# what each function does, hence the roles it holds (tests below derive the roles from this)
CAPABILITIES = {
    "health": set(),
    "auth": set(),
    "users": set(),
    "agents": {"models", "storage", "enqueues"},  # synchronous runs, async hand-off, workspaces
    "executions": {"enqueues"},  # reads runs and events, cancels; approvals resume runs
    "sessions": {"models", "storage", "enqueues"},  # conversation turns, deleting a session's files
    "artifacts": {"storage", "signs"},  # uploads, downloads through signed URLs
    "tasks": {"models", "storage", "enqueues"},  # the worker: runs, webhooks, sweeper re-enqueues
    "marketplace": set(),
    "credentials": set(),  # stores sealed credentials: the database and the credentials key
    "api_keys": set(),  # keys are rows in the database
    "schedules": set(),  # schedules are rows; the sweeper (tasks) starts their runs
    "memories": set(),  # a person's memories are rows
    "console": set(),  # static files of the web console
    # embeds queries (Vertex), reads artifacts into documents, enqueues their ingestion
    "knowledge_bases": {"models", "storage", "enqueues"},
    # the OpenAI chat-completions API: agents' runs, as a session's turn makes them
    "openai_api": {"models", "storage", "enqueues"},
    "mcp_server": {"models", "storage", "enqueues"},  # the MCP server of agents: runs too
    "a2a": {"models", "storage", "enqueues"},  # A2A: runs too
    "eval_sets": set(),  # eval sets are rows
    "evals": {"enqueues"},  # reading evals; a cancel cancels their queued runs
}
# the functions that seal or open users' credentials, hence hold CREDENTIALS_KEY
CREDENTIAL_HOLDERS = {
    "agents",
    "sessions",
    "tasks",
    "credentials",
    "openai_api",
    "mcp_server",
    "a2a",
}
FLAG_ROLES = {
    "models": "roles/aiplatform.user",
    "enqueues": "roles/cloudtasks.enqueuer",
}
EVERY_FUNCTION_ROLES = {
    "roles/cloudsql.client",
    "roles/cloudsql.instanceUser",
    "roles/telemetry.tracesWriter",
}
_REF = re.compile(r"^\$\{(?:tostring\()?(local|var)\.(\w+)\)?\}$")


def resolve(tf: TerraformConfig, value: Any) -> Any:
    """A literal, or `${local.x}` / `${var.x}` / `${tostring(local.x)}` evaluated; any other
    expression is returned as its text."""
    if not isinstance(value, str):
        return value
    match = _REF.match(value)
    if match is None:
        return value
    kind, name = match.groups()
    resolved = tf.locals[name] if kind == "local" else tf.variables[name].get("default")
    return str(resolved) if value.startswith("${tostring(") else resolved


def function(tf: TerraformConfig) -> dict[str, Any]:
    return tf.resource("google_cloudfunctions2_function", "function")


def per_function_env_keys(tf: TerraformConfig) -> set[str]:
    expression = tf.locals["function_env"]
    assert "local.common_env" in expression, "function_env starts from the one common_env map"
    inline = expression[expression.rindex("{") :]
    return set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", inline))


def env_of(tf: TerraformConfig, *, resolved: bool = False) -> dict[str, Any]:
    """The common env map: values as written, or with local/var references evaluated."""
    env = tf.locals["common_env"]
    return {k: resolve(tf, v) for k, v in env.items()} if resolved else dict(env)


# --- functions ---------------------------------------------------------------------------------


def test_one_function_entry_per_group(tf: TerraformConfig) -> None:
    assert set(tf.locals["functions"]) == set(GROUPS)
    fn = function(tf)
    assert fn["for_each"] == "${local.functions}"
    assert fn["name"] == "${var.name}-${each.key}"


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_builds_entry_from_its_staged_archive(tf: TerraformConfig, group: str) -> None:
    build = single(function(tf)["build_config"])
    assert build["entry_point"] == "entry"
    assert build["runtime"] in {"python311", "python312"}
    source = single(single(build["source"])["storage_source"])
    assert source["object"] == "${google_storage_bucket_object.source[each.key].name}"
    archive = tf.resource("google_storage_bucket_object", "source")
    assert archive["for_each"] == "${local.functions}"
    assert archive["source"] == "${path.module}/${var.source_dir}/${each.key}.zip"
    staged = (ROOT / "terraform" / tf.variables["source_dir"]["default"]).resolve()
    assert staged == ROOT / "build" / "functions", "where scripts/stage_functions.py writes"
    # the entry point exists in the group's main.py
    tree = ast.parse((ROOT / "functions" / group / "main.py").read_text())
    assigned = {
        t.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert "entry" in assigned


def test_every_function_runs_as_its_own_service_account(tf: TerraformConfig) -> None:
    service = single(function(tf)["service_config"])
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    accounts = tf.resource("google_service_account", "function")
    assert accounts["for_each"] == "${local.functions}"


# --- who may invoke what -----------------------------------------------------------------------


def test_only_public_groups_are_invokable_by_all_users(tf: TerraformConfig) -> None:
    functions = tf.locals["functions"]
    assert {g for g, fn in functions.items() if not fn["public"]} == WORKER_GROUPS
    assert (
        tf.locals["public_functions"]
        == "${{for group, fn in local.functions : group => fn if fn.public}}"
    )
    public = tf.resource("google_cloud_run_v2_service_iam_member", "public")
    assert public["for_each"] == "${local.public_functions}"
    assert public["role"] == "roles/run.invoker"
    assert public["member"] == "allUsers"
    # and nothing else hands out an invoker role or makes anything public
    for kind, name, body in tf.all_resources():
        if (kind, name) == ("google_cloud_run_v2_service_iam_member", "public"):
            continue
        assert "allUsers" not in str(body), name
        assert "allAuthenticatedUsers" not in str(body), name
        if "invoker" in str(body.get("role", "")):
            assert (kind, name) == ("google_cloud_run_v2_service_iam_member", "worker")


def test_worker_is_invokable_by_the_tasks_service_account_alone(tf: TerraformConfig) -> None:
    assert (
        tf.locals["worker_functions"]
        == "${{for group, fn in local.functions : group => fn if !fn.public}}"
    )
    assert tf.locals["worker_group"] in WORKER_GROUPS
    worker = tf.resource("google_cloud_run_v2_service_iam_member", "worker")
    assert worker["for_each"] == "${local.worker_functions}"
    assert worker["role"] == "roles/run.invoker"
    assert worker["member"] == "${google_service_account.tasks_invoker.member}"
    # the app accepts only tokens of that account, for that audience
    env = env_of(tf)
    assert env["TASKS_INVOKER_SA"] == "${google_service_account.tasks_invoker.email}"
    assert env["TASKS_WORKER_URL"] == "${local.worker_url}"


def test_ingress_admits_only_the_load_balancer_or_internal_callers(tf: TerraformConfig) -> None:
    service = single(function(tf)["service_config"])
    assert service["ingress_settings"] == (
        '${each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY"}'
    )


def test_worker_url_is_the_deterministic_run_app_url_of_the_worker(tf: TerraformConfig) -> None:
    assert tf.locals["worker_service_name"] == "${var.name}-${local.worker_group}"
    assert tf.locals["worker_url"] == (
        "https://${local.worker_service_name}-${data.google_project.this.number}"
        ".${var.region}.run.app"
    )


def test_scheduler_calls_the_sweeper_every_minute_with_the_invokers_token(
    tf: TerraformConfig,
) -> None:
    job = tf.resource("google_cloud_scheduler_job", "sweep")
    assert job["schedule"] == "* * * * *"
    target = single(job["http_target"])
    assert target["http_method"] == "POST"
    assert target["uri"] == "${local.worker_url}/tasks/sweep"
    token = single(target["oidc_token"])
    assert token["service_account_email"] == "${google_service_account.tasks_invoker.email}"
    assert token["audience"] == "${local.worker_url}"


def test_load_balancer_routes_each_public_group_to_its_function(tf: TerraformConfig) -> None:
    negs = tf.resource("google_compute_region_network_endpoint_group", "function")
    assert negs["for_each"] == "${local.public_functions}"
    assert negs["network_endpoint_type"] == "SERVERLESS"
    backends = tf.resource("google_compute_backend_service", "function")
    assert backends["for_each"] == "${local.public_functions}"
    assert backends["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    url_map = tf.resource("google_compute_url_map", "api")
    matcher = single(url_map["path_matcher"])
    rule = single(matcher["dynamic"])["path_rule"]
    assert rule["for_each"] == "${local.public_functions}"
    content = single(rule["content"])
    assert content["paths"] == [
        "${local.group_paths[path_rule.key]}",
        "${local.group_paths[path_rule.key]}/*",
    ]
    # every group's URL path as its RouteGroup serves it
    import importlib

    paths = tf.locals["group_paths"]
    for group in GROUPS:
        served = importlib.import_module(f"functions.{group}.main").routes.path
        if served != f"/{group}":
            assert f'"{group}"' in paths, (group, paths)
            assert f'"{served}"' in paths, (served, paths)
    assert content["service"] == "${google_compute_backend_service.function[path_rule.key].id}"
    assert backends["security_policy"] == "${google_compute_security_policy.api.id}"
    proxy = tf.resource("google_compute_target_https_proxy", "api")
    assert proxy["ssl_certificates"] == ["${google_compute_managed_ssl_certificate.api.id}"]
    certificate = single(tf.resource("google_compute_managed_ssl_certificate", "api")["managed"])
    assert certificate["domains"] == ["${var.domain}"]


def test_cloud_armor_throttles_each_address_in_front_of_every_function(
    tf: TerraformConfig,
) -> None:
    policy = tf.resource("google_compute_security_policy", "api")
    rules = {rule["priority"]: rule for rule in policy["rule"]}
    throttles = [rule for rule in rules.values() if rule["action"] == "throttle"]
    assert len(throttles) == 1
    options = single(throttles[0]["rate_limit_options"])
    assert options["enforce_on_key"] == "IP"
    assert options["exceed_action"] == "deny(429)"
    threshold = single(options["rate_limit_threshold"])
    assert threshold == {"count": "${var.requests_per_minute_per_address}", "interval_sec": 60}
    assert rules[2147483647]["action"] == "allow"  # the default rule lets the rest through


# --- settings ----------------------------------------------------------------------------------


def test_every_setting_is_set_or_deliberately_defaulted(tf: TerraformConfig) -> None:
    names = {name.upper() for name in Settings.model_fields}
    service = single(function(tf)["service_config"])
    secret_keys = {s["key"] for s in service["secret_environment_variables"]}
    secret_keys |= {"CREDENTIALS_KEY"}  # the dynamic block (checked with its holders below)
    set_by_terraform = set(tf.locals["common_env"]) | per_function_env_keys(tf) | secret_keys
    missing = names - set_by_terraform - set(DELIBERATELY_DEFAULTED)
    assert missing == set(), "set these in terraform/locals.tf or add them, with a reason, above"
    assert set(DELIBERATELY_DEFAULTED) <= names, "no longer settings"
    assert set(DELIBERATELY_DEFAULTED).isdisjoint(set_by_terraform), "set and defaulted"
    assert all(len(reason) > 10 for reason in DELIBERATELY_DEFAULTED.values())


def test_environment_comes_from_one_map_merged_per_function(tf: TerraformConfig) -> None:
    service = single(function(tf)["service_config"])
    assert service["environment_variables"] == "${local.function_env[each.key]}"
    assert per_function_env_keys(tf) == {"DB_USER", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "THREADS"}
    assert (
        'DB_USER = trimsuffix(google_service_account.function[group].email, ".gserviceaccount.com")'
        in tf.locals["function_env"]
    )
    secret = service["secret_environment_variables"][0]
    assert secret["key"] == "SECRET_KEY"
    assert secret["secret"] == "${google_secret_manager_secret.secret_key.secret_id}"
    assert secret["version"] == "${google_secret_manager_secret_version.secret_key.version}"


@pytest.mark.parametrize("group", GROUPS)
def test_each_functions_environment_is_valid_production_settings(
    tf: TerraformConfig, group: str
) -> None:
    fn = tf.locals["functions"][group]
    environ = {k: str(v) for k, v in env_of(tf, resolved=True).items() if "${" not in str(v)}
    environ |= {
        "SECRET_KEY": "k" * 48,
        "DB_USER": f"agents-{group}@project.iam",
        "DB_POOL_SIZE": str(fn["db_pool_size"]),
        "DB_MAX_OVERFLOW": str(fn["db_max_overflow"]),
    }
    settings = Settings.from_environ(environ)
    assert settings.app_env == "production"
    assert settings.db_iam_auth is True
    assert settings.execution_max_attempts == tf.locals["execution_max_attempts"]
    assert settings.max_execution_timeout_s == tf.locals["max_execution_timeout_s"]
    assert settings.default_model_provider != "test"


# --- database ----------------------------------------------------------------------------------


def test_connection_budget_fits_max_connections_less_a_reserve(tf: TerraformConfig) -> None:
    functions = tf.locals["functions"]
    needed = sum(
        fn["max_instances"] * (fn["db_pool_size"] + fn["db_max_overflow"])
        for fn in functions.values()
        if fn["database"]
    )
    budget = tf.locals["db_max_connections"] - tf.locals["db_reserved_connections"]
    assert tf.locals["db_reserved_connections"] >= 10  # superuser slots, migrations, operators
    assert needed <= budget, f"{needed} connections needed, {budget} available"
    flags = {
        f["name"]: f["value"]
        for f in single(tf.resource("google_sql_database_instance", "main")["settings"])[
            "database_flags"
        ]
    }
    assert resolve(tf, flags["max_connections"]) == str(tf.locals["db_max_connections"])


@pytest.mark.parametrize("group", GROUPS)
def test_no_request_waits_for_a_pooled_connection(tf: TerraformConfig, group: str) -> None:
    fn = tf.locals["functions"][group]
    if not fn["database"]:  # the console's static files
        assert group == "console"
        return
    extra = 1 if fn["models"] else 0  # the agent loop thread holds one of its own
    if group in FOLLOWED:  # followers read on a pool of their own (core.runs.following)
        extra = max(extra, READ_THREADS)
    assert fn["db_pool_size"] + fn["db_max_overflow"] >= fn["threads"] + extra
    # overflow connections are closed on return: with every thread busy they would churn
    assert fn["db_pool_size"] >= fn["threads"]
    assert fn["db_pool_size"] <= 50
    assert fn["db_max_overflow"] <= 50


FOLLOWED = {"executions", "sessions"}  # the groups with live followers


def test_streams_are_what_an_instance_holds_beyond_its_request_threads(
    tf: TerraformConfig,
) -> None:
    """Requests run on `threads` (THREADS); an instance's concurrency above that is open
    streams, which wait on the event loop: only the groups that stream have any."""
    functions = tf.locals["functions"]
    streaming = {g for g, fn in functions.items() if fn["concurrency"] > fn["threads"]}
    # openai_api (stream: true) and a2a (SendStreamingMessage) stream too
    assert streaming == {"agents", "openai_api", "a2a", *FOLLOWED}
    assert all(fn["concurrency"] >= fn["threads"] for fn in functions.values())
    assert all(fn["concurrency"] <= 1000 for fn in functions.values())  # Cloud Run's maximum
    assert "THREADS = tostring(fn.threads)" in tf.locals["function_env"]
    followers = functions["executions"]
    assert (followers["concurrency"] - followers["threads"]) * followers["max_instances"] >= 1000


def test_cloud_sql_instance(tf: TerraformConfig) -> None:
    instance = tf.resource("google_sql_database_instance", "main")
    assert instance["database_version"] == "POSTGRES_16"
    assert resolve(tf, instance["deletion_protection"]) is True
    settings = single(instance["settings"])
    assert resolve(tf, settings["deletion_protection_enabled"]) is True
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    for flag in ("log_checkpoints", "log_connections", "log_disconnections", "log_lock_waits"):
        assert flags[flag] == "on"
    assert "log_min_duration_statement" in flags
    backups = single(settings["backup_configuration"])
    assert backups["enabled"] is True
    assert backups["point_in_time_recovery_enabled"] is True
    network = single(settings["ip_configuration"])
    assert network["ssl_mode"] in {"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"}
    assert "authorized_networks" not in network
    assert "precondition" in str(instance["lifecycle"])
    assert "db_connections_needed" in str(instance["lifecycle"])


def test_each_function_is_an_iam_database_user(tf: TerraformConfig) -> None:
    users = tf.resource("google_sql_user", "function")
    assert users["for_each"] == "${local.functions}"
    assert users["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert (
        users["name"]
        == '${trimsuffix(google_service_account.function[each.key].email, ".gserviceaccount.com")}'
    )
    env = env_of(tf)
    assert env["DB_IAM_AUTH"] == "true"
    assert env["INSTANCE_CONNECTION_NAME"] == "${google_sql_database_instance.main.connection_name}"
    assert env["DB_NAME"] == "${google_sql_database.app.name}"


# --- queue -------------------------------------------------------------------------------------


def _seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def test_queue_retries_a_bounded_number_of_times_with_backoff(tf: TerraformConfig) -> None:
    queue = tf.resource("google_cloud_tasks_queue", "runs")
    retry = single(queue["retry_config"])
    attempts = resolve(tf, retry["max_attempts"])
    assert 1 <= attempts <= 10
    assert attempts == tf.locals["execution_max_attempts"]
    assert env_of(tf, resolved=True)["EXECUTION_MAX_ATTEMPTS"] == str(attempts)
    assert _seconds(retry["min_backoff"]) >= 5
    assert _seconds(retry["max_backoff"]) >= _seconds(retry["min_backoff"])
    assert _seconds(retry["max_retry_duration"]) > 0
    limits = single(queue["rate_limits"])
    assert limits["max_dispatches_per_second"] > 0
    assert limits["max_concurrent_dispatches"] == (
        "${local.functions[local.worker_group].max_instances"
        " * local.functions[local.worker_group].concurrency}"
    )
    assert env_of(tf)["TASKS_QUEUE"] == "${google_cloud_tasks_queue.runs.id}"


def test_run_functions_outlive_their_longest_run(tf: TerraformConfig) -> None:
    longest = tf.locals["max_execution_timeout_s"]
    # sync runs (agents, sessions), the live event stream (executions, 600 s) and the worker,
    # whose Cloud Tasks dispatch deadline is the run's timeout + 60 s
    for group in ("agents", "sessions", "executions", "tasks"):
        assert tf.locals["functions"][group]["timeout_s"] >= longest + 60, group


# --- least privilege ---------------------------------------------------------------------------


def _project_roles(tf: TerraformConfig) -> dict[str, set[str]]:
    """group -> project roles, from the comprehension in iam.tf (role, then its `if fn.flag`)."""
    expression = tf.locals["function_project_roles"]
    granted: dict[str, set[str]] = {group: set() for group in GROUPS}
    for role, flag in re.findall(r'role = "(roles/[\w.]+)"\s*\}(?:\s*if fn\.(\w+))?', expression):
        for group, fn in tf.locals["functions"].items():
            if flag == "" or fn[flag]:
                granted[group].add(role)
    return granted


def test_capabilities_match_what_each_function_does(tf: TerraformConfig) -> None:
    for group, fn in tf.locals["functions"].items():
        flags = {flag for flag in ("models", "storage", "enqueues", "signs") if fn[flag]}
        assert flags == CAPABILITIES[group], group


@pytest.mark.parametrize("group", GROUPS)
def test_project_roles_are_only_what_the_function_needs(tf: TerraformConfig, group: str) -> None:
    expected = EVERY_FUNCTION_ROLES | {
        FLAG_ROLES[f] for f in CAPABILITIES[group] if f in FLAG_ROLES
    }
    assert _project_roles(tf)[group] == expected


def test_resource_level_grants(tf: TerraformConfig) -> None:
    bucket = tf.resource("google_storage_bucket_iam_member", "artifacts")
    assert bucket["for_each"] == "${{for group, fn in local.functions : group => fn if fn.storage}}"
    assert bucket["bucket"] == "${google_storage_bucket.artifacts.name}"
    assert bucket["role"] == "roles/storage.objectUser"
    secret = tf.resource("google_secret_manager_secret_iam_member", "secret_key")
    assert secret["role"] == "roles/secretmanager.secretAccessor"
    assert secret["secret_id"] == "${google_secret_manager_secret.secret_key.secret_id}"
    acts_as = tf.resource("google_service_account_iam_member", "enqueuer_acts_as_invoker")
    assert (
        acts_as["for_each"] == "${{for group, fn in local.functions : group => fn if fn.enqueues}}"
    )
    assert acts_as["service_account_id"] == "${google_service_account.tasks_invoker.name}"
    assert acts_as["role"] == "roles/iam.serviceAccountUser"
    signs = tf.resource("google_service_account_iam_member", "signs_as_itself")
    assert signs["for_each"] == "${{for group, fn in local.functions : group => fn if fn.signs}}"
    assert signs["role"] == "roles/iam.serviceAccountTokenCreator"
    assert signs["service_account_id"] == "${google_service_account.function[each.key].name}"
    assert (
        env_of(tf)["SIGNING_SERVICE_ACCOUNT"]
        == '${google_service_account.function["artifacts"].email}'
    )


def test_no_broad_roles_anywhere(tf: TerraformConfig) -> None:
    text = "\n".join(tf.texts.values())
    for role in (
        "roles/owner",
        "roles/editor",
        "roles/viewer",
        "roles/storage.admin",
        "roles/iam.serviceAccountAdmin",
        "roles/cloudsql.admin",
    ):
        assert role not in text
    project_grants = [(n, b) for k, n, b in tf.all_resources() if k == "google_project_iam_member"]
    assert {n for n, _ in project_grants} == {"function", "build_logs"}


# --- storage, secret, outputs, variables --------------------------------------------------------


def test_artifacts_bucket(tf: TerraformConfig) -> None:
    bucket = tf.resource("google_storage_bucket", "artifacts")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert single(bucket["versioning"])["enabled"] is True
    conditions = [single(rule["condition"]) for rule in bucket["lifecycle_rule"]]
    assert any("days_since_noncurrent_time" in c for c in conditions)
    assert any(c.get("matches_prefix") == ["workspaces/"] for c in conditions)
    assert env_of(tf)["ARTIFACTS_BUCKET"] == "${google_storage_bucket.artifacts.name}"


def test_only_credential_holders_read_the_credentials_key(tf: TerraformConfig) -> None:
    holders = {g for g, fn in tf.locals["functions"].items() if fn["credentials"]}
    assert holders == CREDENTIAL_HOLDERS
    grant = tf.resource("google_secret_manager_secret_iam_member", "credentials_key")
    assert grant["for_each"] == (
        "${{for group, fn in local.functions : group => fn if fn.credentials}}"
    )
    assert grant["secret_id"] == "${google_secret_manager_secret.credentials_key.secret_id}"
    service = single(function(tf)["service_config"])
    dynamic = single(service["dynamic"])["secret_environment_variables"]
    assert dynamic["for_each"] == '${each.value.credentials ? ["CREDENTIALS_KEY"] : []}'
    version = tf.resource("google_secret_manager_secret_version", "credentials_key")
    assert "secret_data" not in version
    assert "secret_data_wo" in version
    assert env_of(tf)["MCP_ALLOWED_HOSTS"] == ""  # MCP egress: public https only


def test_secret_key_never_enters_the_state(tf: TerraformConfig) -> None:
    version = tf.resource("google_secret_manager_secret_version", "secret_key")
    assert "secret_data" not in version, "secret_data is stored in the state; use secret_data_wo"
    assert "secret_data_wo" in version
    assert "secret_data_wo_version" in version
    assert "random_password" in tf.ephemeral
    assert "random_password" not in tf.resources
    assert tf.variables["secret_key"].get("ephemeral") is True


def test_every_variable_and_output_is_described(tf: TerraformConfig) -> None:
    for name, variable in tf.variables.items():
        assert len(variable.get("description", "")) > 15, name
    for name in ("base_url", "artifacts_bucket", "tasks_queue", "database_connection_name"):
        assert name in tf.outputs
    for name, output in tf.outputs.items():
        assert len(output.get("description", "")) > 15, name


def test_remote_state_backend_example() -> None:
    example = (ROOT / "terraform" / "backend.tf.example").read_text()
    assert 'backend "gcs"' in example


_COMMENT = re.compile(r"(?m)^\s*#.*$|\s#[^\"\n]*$")


def test_every_reference_resolves(tf: TerraformConfig) -> None:
    """What `terraform validate` would catch first: references to undeclared things."""
    text = _COMMENT.sub("", "\n".join(tf.texts.values()))
    declared = {(kind, name) for kind, name, _ in tf.all_resources()}
    for kind, name in re.findall(r"(?<![\w.\"/-])((?:google|random)_\w+)\.(\w+)", text):
        assert (kind, name) in declared, f"{kind}.{name}"
    for kind, name in re.findall(r"\bdata\.(\w+)\.(\w+)", text):
        assert name in tf.data.get(kind, {}), f"data.{kind}.{name}"
    for kind, name in re.findall(r"\bephemeral\.(\w+)\.(\w+)", text):
        assert name in tf.ephemeral.get(kind, {}), f"ephemeral.{kind}.{name}"
    for name in re.findall(r"\bvar\.(\w+)", text):
        assert name in tf.variables, f"var.{name}"
    for name in re.findall(r"\blocal\.(\w+)", text):
        assert name in tf.locals, f"local.{name}"
    assert len(declared) > 30


def test_apis_enabled(tf: TerraformConfig) -> None:
    apis = set(tf.locals["apis"])
    for api in (
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "sqladmin.googleapis.com",
        "cloudtasks.googleapis.com",
        "cloudscheduler.googleapis.com",
        "secretmanager.googleapis.com",
        "aiplatform.googleapis.com",
        "compute.googleapis.com",
        "iamcredentials.googleapis.com",
    ):
        assert api in apis
