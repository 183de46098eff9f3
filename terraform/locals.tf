locals {
  # One entry per folder under functions/ (functions.GROUPS; a test keeps them equal).
  #   public        served through the load balancer, invokable by allUsers (the app authenticates);
  #                 the one non-public group is the Cloud Tasks worker
  #   models        runs agents (Vertex AI user)     storage: reads/writes the artifacts bucket
  #   enqueues      creates Cloud Tasks tasks        signs:   signs download URLs (signBlob as itself)
  #   credentials   reads CREDENTIALS_KEY (seals or opens users' credentials: the functions that
  #                 run agents or inspect MCP servers, and the credentials API)
  #   concurrency   requests per instance (Cloud Run): the request threads plus the streams an
  #                 instance holds open; streams wait on the ASGI front's event loop, not threads
  #   threads       request threads (THREADS): requests that run the app at once
  #   Stream capacity: executions (followers) 1000 - 8 per instance, 2 instances: 1984 open
  #   followers in the deployment; sessions 250 - 8 per instance, 3 instances (followers and
  #   streamed turns); agents 40 - 8 (streamed runs and AG-UI, each run on one of the 32
  #   threads of the live-run pool). Followers read on 4 threads of their own: their
  #   functions' overflow covers them.
  #   database      opens Cloud SQL connections (the console, static files only, does not)
  #   db_pool_size >= threads: an overflow connection is closed when it is returned, so a
  #   function busy on all its threads would open and close connections (each a Cloud SQL
  #   handshake) instead of reusing them; db_max_overflow covers the helper thread where models
  #   run (a run writes events and heartbeats from it) and the followers' reads. The sums are
  #   those of the budget below.
  functions = {
    health      = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 4, threads = 4, db_pool_size = 4, db_max_overflow = 0, memory = "512Mi", timeout_s = 30 }
    auth        = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 4, concurrency = 4, threads = 4, db_pool_size = 4, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    users       = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 8, threads = 8, db_pool_size = 8, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    agents      = { public = true, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 4, concurrency = 40, threads = 8, db_pool_size = 8, db_max_overflow = 1, memory = "1Gi", timeout_s = 660 }
    executions  = { public = true, models = false, storage = false, enqueues = true, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 1000, threads = 8, db_pool_size = 8, db_max_overflow = 4, memory = "512Mi", timeout_s = 660 }
    sessions    = { public = true, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 3, concurrency = 250, threads = 8, db_pool_size = 8, db_max_overflow = 4, memory = "1Gi", timeout_s = 660 }
    artifacts   = { public = true, models = false, storage = true, enqueues = false, credentials = false, signs = true, database = true, max_instances = 2, concurrency = 8, threads = 8, db_pool_size = 8, db_max_overflow = 0, memory = "1Gi", timeout_s = 120 }
    tasks       = { public = false, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 5, concurrency = 4, threads = 4, db_pool_size = 4, db_max_overflow = 1, memory = "1Gi", timeout_s = 900 }
    credentials = { public = true, models = false, storage = false, enqueues = false, credentials = true, signs = false, database = true, max_instances = 2, concurrency = 4, threads = 4, db_pool_size = 4, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    marketplace = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 8, threads = 8, db_pool_size = 8, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    api_keys    = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 4, threads = 4, db_pool_size = 4, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    schedules   = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 1, concurrency = 3, threads = 3, db_pool_size = 3, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    memories    = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 1, concurrency = 2, threads = 2, db_pool_size = 2, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    # embeds queries (Vertex AI user) and enqueues ingestions; its connections, and those of
    # memories (a person's own rows), came from marketplace's third instance (short reads)
    knowledge_bases = { public = true, models = true, storage = true, enqueues = true, credentials = false, signs = false, database = true, max_instances = 2, concurrency = 2, threads = 2, db_pool_size = 2, db_max_overflow = 1, memory = "1Gi", timeout_s = 120 }
    # the OpenAI chat-completions API (/v1): runs agents like sessions, on a small share of connections
    openai_api = { public = true, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 1, concurrency = 8, threads = 2, db_pool_size = 2, db_max_overflow = 1, memory = "1Gi", timeout_s = 660 }
    # the MCP server of agents (/mcp): runs agents like openai_api
    mcp_server = { public = true, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 1, concurrency = 2, threads = 2, db_pool_size = 2, db_max_overflow = 1, memory = "1Gi", timeout_s = 660 }
    # A2A (/a2a): runs agents like openai_api, and streams SendStreamingMessage
    a2a = { public = true, models = true, storage = true, enqueues = true, credentials = true, signs = false, database = true, max_instances = 1, concurrency = 8, threads = 2, db_pool_size = 2, db_max_overflow = 1, memory = "1Gi", timeout_s = 660 }
    # an agent's eval sets (/eval-sets) and eval runs (/evals): short reads and writes (evals
    # start under /agents and are driven by the tasks worker)
    eval_sets = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = true, max_instances = 1, concurrency = 2, threads = 2, db_pool_size = 2, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    evals     = { public = true, models = false, storage = false, enqueues = true, credentials = false, signs = false, database = true, max_instances = 1, concurrency = 2, threads = 2, db_pool_size = 2, db_max_overflow = 0, memory = "512Mi", timeout_s = 60 }
    # static files only: it never opens a database connection; Cloud CDN serves its hashed assets
    console = { public = true, models = false, storage = false, enqueues = false, credentials = false, signs = false, database = false, max_instances = 2, concurrency = 16, threads = 16, db_pool_size = 1, db_max_overflow = 0, memory = "256Mi", timeout_s = 30 }
  }

  # the URL path of each group: "/<group>", but for the one whose name is not a valid path
  # spelling of it (a group's name is also a Python package: functions/api_keys serves /api-keys,
  # functions/knowledge_bases /knowledge-bases, functions/openai_api the OpenAI-style /v1,
  # functions/mcp_server /mcp, functions/eval_sets /eval-sets)
  group_paths = { for group, fn in local.functions : group => lookup({ "api_keys" = "/api-keys", "knowledge_bases" = "/knowledge-bases", "openai_api" = "/v1", "mcp_server" = "/mcp", "eval_sets" = "/eval-sets" }, group, "/${group}") }

  public_functions = { for group, fn in local.functions : group => fn if fn.public }
  worker_functions = { for group, fn in local.functions : group => fn if !fn.public }
  worker_group     = "tasks"

  # Cloud SQL connection budget: every instance of every function at its pool's limit must fit
  # under max_connections, less a reserve for Cloud SQL's own and superuser connections (3),
  # the migrations in Cloud Build (5 + 2) and operators. Checked by a precondition on the
  # instance and by tests/infra.
  db_max_connections      = 267 # raised from 250 for openai_api's, mcp_server's and a2a's 3 each and eval_sets' and evals' 2 each (the tier's memory allows it)
  db_reserved_connections = 30
  db_connections_needed   = sum([for fn in local.functions : fn.database ? fn.max_instances * (fn.db_pool_size + fn.db_max_overflow) : 0])

  # Cloud Tasks: one delivery is one agent run of at most MAX_EXECUTION_TIMEOUT_S; the queue
  # gives up after as many deliveries as the service counts before failing a run for good.
  max_execution_timeout_s = 600
  execution_max_attempts  = 5

  # Cloud Run's deterministic URL of the worker, known before it exists: the enqueuers need it
  # (task URL and OIDC audience) and so does the worker itself (it checks that audience).
  worker_service_name = "${var.name}-${local.worker_group}"
  worker_url          = "https://${local.worker_service_name}-${data.google_project.this.number}.${var.region}.run.app"

  # The one environment map: the same for every function, then each one's own database user,
  # pool and thread count.
  common_env = {
    APP_ENV                  = "production"
    SERVICE_VERSION          = var.service_version
    LOG_LEVEL                = var.log_level
    DATA_DIR                 = "/tmp/agents" # the only writable place; nothing durable is kept there
    INSTANCE_CONNECTION_NAME = google_sql_database_instance.main.connection_name
    DB_NAME                  = google_sql_database.app.name
    DB_IAM_AUTH              = "true"
    DB_IP_TYPE               = "public" # no authorized networks: reachable only through the connector
    VERTEX_PROJECT           = var.project_id
    VERTEX_LOCATION          = var.vertex_location
    ANTHROPIC_VERTEX_REGION  = var.anthropic_vertex_region
    DEFAULT_MODEL_PROVIDER   = var.default_model_provider
    MAX_EXECUTION_TIMEOUT_S  = tostring(local.max_execution_timeout_s)
    TASKS_QUEUE              = google_cloud_tasks_queue.runs.id
    TASKS_WORKER_URL         = local.worker_url
    TASKS_INVOKER_SA         = google_service_account.tasks_invoker.email
    EXECUTION_MAX_ATTEMPTS   = tostring(local.execution_max_attempts)
    ARTIFACTS_BUCKET         = google_storage_bucket.artifacts.name
    SIGNING_SERVICE_ACCOUNT  = google_service_account.function["artifacts"].email
    WORKERS                  = "1"    # one process per instance: the pool sizes above are per process
    TRACE_EXPORTER           = "otlp" # OTLP to telemetry.googleapis.com, Google's recommended path
    TRACE_PROJECT            = var.project_id
    LOG_FORMAT               = "json" # Cloud Logging reads severity and the trace from each line
    MCP_ALLOWED_HOSTS        = ""     # MCP servers: public https addresses only
    A2A_ALLOWED_HOSTS        = ""     # remote A2A agents: public https addresses only
  }

  function_env = {
    for group, fn in local.functions : group => merge(local.common_env, var.extra_env, {
      DB_USER         = trimsuffix(google_service_account.function[group].email, ".gserviceaccount.com")
      DB_POOL_SIZE    = tostring(fn.db_pool_size)
      DB_MAX_OVERFLOW = tostring(fn.db_max_overflow)
      THREADS         = tostring(fn.threads)
    })
  }
}
