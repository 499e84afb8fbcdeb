"""Django settings for WebAuto Orchestrator.

Everything configurable comes from the environment, read here and only here
(see README "Configuration"). Bad values stop the process with a clear message.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webauto.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WEBAUTO_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("WEBAUTO_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when WEBAUTO_REQUIRE_SECRET_KEY is on.")
    # A stable per-installation key for the embedded default; production sets SECRET_KEY.
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        import secrets as _secrets

        _key_file.write_text(_secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "orchestration",
    "webflows",
    "scheduling",
    "resources",
    "orchestration.access",
    "templates_app",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Text PostgreSQL cannot store (NUL) never reaches a view: a 400 naming the parameter.
    "orchestration.api.guards.NulByteGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "webauto.urls"
WSGI_APPLICATION = "webauto.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "orchestration.access.context_processors.role",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'webauto.sqlite3'}")
try:
    # Persistent connections (checked before reuse): a worker would otherwise
    # open a new connection for every node it runs.
    _db = dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
    )
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets web, worker and beat share one file; IMMEDIATE transactions plus a
    # busy timeout make concurrent writers wait instead of failing with "locked".
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30, minimum=1),
    }
elif _db["ENGINE"].startswith("django.db.backends.postgresql"):
    # A node's heartbeat must fail fast rather than hang on an unreachable
    # database, so that the node can fence itself before its lease expires.
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=1))
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Email ------------------------------------------------------------------
# With no mail server configured (neither EMAIL_HOST nor EMAIL_BACKEND set, as on
# the embedded default), email is written to a local outbox under var/outbox/
# that the Outbox page reads; setting EMAIL_HOST switches to SMTP.
_email_host = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if _email_host
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = Path(env_str("EMAIL_FILE_PATH", str(VAR_DIR / "outbox")))
EMAIL_HOST = _email_host or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webauto@localhost")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on.")

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webauto.authentication.StrictTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Logged in, and holding the role orchestration/access/policy.py asks for.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "orchestration.access.permissions.RolePermission",
    ],
    "DEFAULT_PAGINATION_CLASS": "orchestration.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orchestration.api.errors.exception_handler",
    # DRF's parsers, refusing NUL characters in bodies with a 400 naming the field.
    "DEFAULT_PARSER_CLASSES": [
        "orchestration.api.guards.JSONParser",
        "orchestration.api.guards.FormParser",
        "orchestration.api.guards.MultiPartParser",
    ],
    "DEFAULT_METADATA_CLASS": "orchestration.api.guards.ApiMetadata",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WebAuto Orchestrator API",
    "DESCRIPTION": "Tasks, executions, templates, schedules, monitoring and resources.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "OAS_VERSION": "3.1.0",
    # Swagger UI and ReDoc files come from the sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several components have a "status"/"priority" field; name the shared choice sets once.
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "orchestration.models.ExecutionStatus",
        "NodeStatusEnum": "orchestration.models.NodeStatus",
        "PriorityEnum": "orchestration.models.Priority",
        "ExecutionTriggerEnum": "orchestration.models.Trigger",
        "ManualTriggerEnum": "scheduling.spec.TRIGGERS",
    },
    # Every operation documents the framework's error statuses (400/401/403/404/415)
    # with the shared ErrorResponse body.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orchestration.api.openapi.add_error_responses",
        "orchestration.api.openapi.add_definition_schemas",
    ],
}

# --- Celery -----------------------------------------------------------------
_redis_url = env_str("REDIS_URL", "")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", _redis_url or "filesystem://")
_broker_scheme = urlparse(CELERY_BROKER_URL).scheme
if _broker_scheme not in {"redis", "rediss", "filesystem", "memory", "amqp", "pyamqp"}:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL scheme {_broker_scheme!r} is not supported; use redis://, filesystem:// or amqp://."
    )
CELERY_BROKER_USES_FILESYSTEM = _broker_scheme == "filesystem"
if CELERY_BROKER_USES_FILESYSTEM:
    _queue_dir = VAR_DIR / "broker" / "queue"
    _processed_dir = VAR_DIR / "broker" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis redelivers an unacknowledged message after this many seconds, so a
        # long-running node would be delivered twice; the engine's claim makes the
        # second delivery harmless and recovers dead workers itself (see engine).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=5),
        "queue_order_strategy": "priority",
        "priority_steps": list(range(10)),
        "sep": ":",
    }
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fix-up closes every database connection before and after each
# task unless this is set: keep them (Django still drops one past DB_CONN_MAX_AGE
# or after an error), so a worker does not connect once per node.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
# The engine keeps all state in the database; a result backend is only needed by
# Celery canvases (the benchmark compares against them).
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Engine -----------------------------------------------------------------
# Seconds between a running node's heartbeats, and how old a heartbeat may get
# before the node's worker is presumed dead and the node is dispatched again.
WEBAUTO_NODE_HEARTBEAT_SECONDS = env_float("WEBAUTO_NODE_HEARTBEAT_SECONDS", 2.0, minimum=0.1)
WEBAUTO_NODE_STALE_SECONDS = env_float("WEBAUTO_NODE_STALE_SECONDS", 30.0, minimum=1.0)
# Grace between a cooperative cancel/timeout and the hard stop of a node.
WEBAUTO_CANCEL_GRACE_SECONDS = env_float("WEBAUTO_CANCEL_GRACE_SECONDS", 5.0, minimum=0.0)
# Delays longer than this are parked in the database, not in the broker.
WEBAUTO_MAX_COUNTDOWN_SECONDS = env_int("WEBAUTO_MAX_COUNTDOWN_SECONDS", 60, minimum=0)
WEBAUTO_MAINTENANCE_INTERVAL_SECONDS = env_float("WEBAUTO_MAINTENANCE_INTERVAL_SECONDS", 5.0, minimum=0.5)
# A queued node no worker claimed this long after its dispatch (or its retry's
# due time) is sent again under a fresh dispatch id: its message was lost
# (broker restart) or is held by a dead worker. The database is the truth.
WEBAUTO_DISPATCH_RESEND_SECONDS = env_float("WEBAUTO_DISPATCH_RESEND_SECONDS", 30.0, minimum=1.0)
# Every worker runs the maintenance sweep itself on this timer (0: only beat's entry).
WEBAUTO_WORKER_SWEEP_SECONDS = env_float(
    "WEBAUTO_WORKER_SWEEP_SECONDS", WEBAUTO_MAINTENANCE_INTERVAL_SECONDS, minimum=0.0
)
# Event subscribers (event schedules) are kept in each process's memory and
# reloaded when they change; a change made by another process is seen within
# this many seconds (orchestration/subscribers.py). 0: checked on every event.
WEBAUTO_SUBSCRIBER_CACHE_SECONDS = env_float("WEBAUTO_SUBSCRIBER_CACHE_SECONDS", 0.5, minimum=0.0)
# Extra modules that register node kinds at start-up (comma separated).
WEBAUTO_EXTRA_KIND_MODULES = env_list("WEBAUTO_EXTRA_KIND_MODULES", [])
# Admission backend: decides when a queued execution may start.
# The resource manager's backend admits by capacity and priority (see
# resources); "orchestration.admission.AdmitAll" starts everything.
WEBAUTO_ADMISSION_BACKEND = env_str(
    "WEBAUTO_ADMISSION_BACKEND", "resources.backend.ResourceAdmission"
)
# The Chromium binary browser nodes launch (Debian's package by default;
# scripts/check-browser installs it).
WEBAUTO_CHROMIUM_PATH = env_str("WEBAUTO_CHROMIUM_PATH", "/usr/bin/chromium")
# Nodes load only http/https URLs (orchestration/urlpolicy.py). With this on, they
# may also not reach private, loopback or link-local addresses (off by default: a
# self-hosted tool is usually pointed at an intranet on purpose).
WEBAUTO_BLOCK_PRIVATE_ADDRESSES = env_bool("WEBAUTO_BLOCK_PRIVATE_ADDRESSES", False)
# Networks (comma-separated CIDRs, e.g. "169.254.169.254/32,10.20.0.0/16") that nodes and
# webhook channels may never reach, whatever WEBAUTO_BLOCK_PRIVATE_ADDRESSES says.
WEBAUTO_BLOCKED_NETWORKS = env_list("WEBAUTO_BLOCKED_NETWORKS", [])
for _network in WEBAUTO_BLOCKED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBAUTO_BLOCKED_NETWORKS: {_network!r} is not a network (expected CIDRs such as 10.0.0.0/8)"
        ) from None
# Base URL of the Weibo mobile API the Weibo timeline monitor reads (tests and the sandbox
# point it at a local server serving the same shape).
WEBAUTO_WEIBO_API_BASE = env_str("WEBAUTO_WEIBO_API_BASE", "https://m.weibo.cn").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Periodic jobs. DatabaseScheduler copies these entries into django-celery-beat's
# tables at start-up; each app adds its own here.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "orchestration-maintenance": {
        "task": "orchestration.maintenance",
        "schedule": WEBAUTO_MAINTENANCE_INTERVAL_SECONDS,
        "options": {"expires": WEBAUTO_MAINTENANCE_INTERVAL_SECONDS * 2},
    },
}

# --- Monitoring and alerting (monitoring app) ---------------------------------
# Webhook deliveries: default timeout, and the HMAC-SHA256 key used to sign
# bodies when a channel sets no ``signingSecret`` of its own (empty: unsigned).
WEBAUTO_WEBHOOK_TIMEOUT_SECONDS = env_float("WEBAUTO_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
WEBAUTO_WEBHOOK_SIGNING_SECRET = env_str("WEBAUTO_WEBHOOK_SIGNING_SECRET", "")
# Incoming Standard Webhooks requests: how far (seconds) webhook-timestamp may be
# from the clock. Their webhook-ids are remembered for twice this long.
WEBAUTO_WEBHOOK_TOLERANCE_SECONDS = env_int("WEBAUTO_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)
# Whether a schedule with a webhook secret still accepts the older
# X-Webauto-Signature: sha256=<hex> (no timestamp, so replayable). Turn off to
# require the Standard Webhooks headers.
WEBAUTO_WEBHOOK_LEGACY_SIGNATURES = env_bool("WEBAUTO_WEBHOOK_LEGACY_SIGNATURES", True)
# Deliveries failing temporarily are retried, up to this many retries after the
# first attempt, attempt n+1 coming base * 3**(n-1) seconds after attempt n.
# WEBAUTO_DELIVERY_MAX_ATTEMPTS (retries + 1), the older name, is still read.
WEBAUTO_DELIVERY_MAX_RETRIES = env_int(
    "WEBAUTO_DELIVERY_MAX_RETRIES", env_int("WEBAUTO_DELIVERY_MAX_ATTEMPTS", 6, minimum=1) - 1, minimum=0
)
WEBAUTO_DELIVERY_RETRY_BASE_SECONDS = env_float("WEBAUTO_DELIVERY_RETRY_BASE_SECONDS", 10.0, minimum=0.0)
# Base URL used for links in notifications (e.g. https://webauto.example.com).
WEBAUTO_BASE_URL = env_str("WEBAUTO_BASE_URL", "http://localhost:8000").rstrip("/")
# /metrics access: a bearer token, or a client address in the allow-list (IPs or CIDRs).
WEBAUTO_METRICS_TOKEN = env_str("WEBAUTO_METRICS_TOKEN", "")
WEBAUTO_METRICS_ALLOWED_IPS = env_list("WEBAUTO_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
# Retention (days): executions (rolled up into daily aggregates first), events,
# node inputs/outputs/logs, and deliveries/resolved alerts/host samples.
WEBAUTO_RETENTION_DAYS = env_int("WEBAUTO_RETENTION_DAYS", 30, minimum=1)
WEBAUTO_EVENT_RETENTION_DAYS = env_int("WEBAUTO_EVENT_RETENTION_DAYS", 30, minimum=1)
WEBAUTO_NODE_OUTPUT_RETENTION_DAYS = env_int("WEBAUTO_NODE_OUTPUT_RETENTION_DAYS", 7, minimum=1)
WEBAUTO_ALERT_RETENTION_DAYS = env_int("WEBAUTO_ALERT_RETENTION_DAYS", 90, minimum=1)
# Stuck runs: grace past a timeout, and how long an execution may sit queued
# while no worker is alive.
WEBAUTO_STUCK_GRACE_SECONDS = env_float("WEBAUTO_STUCK_GRACE_SECONDS", 120.0, minimum=0.0)
WEBAUTO_STUCK_QUEUED_SECONDS = env_float("WEBAUTO_STUCK_QUEUED_SECONDS", 600.0, minimum=1.0)
# A run is slow past errorHandling.slowExecutionThreshold (ms) or, without it,
# past this fraction of the task's timeout.
WEBAUTO_ALERT_SLOW_RATIO = env_float("WEBAUTO_ALERT_SLOW_RATIO", 0.8, minimum=0.01)
# A scheduled run that fired later than this is "late" (schedule alert).
WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS = env_float("WEBAUTO_ALERT_SCHEDULE_LAG_SECONDS", 300.0, minimum=0.0)
WEBAUTO_MONITORING_WATCHDOG_SECONDS = env_float("WEBAUTO_MONITORING_WATCHDOG_SECONDS", 60.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["monitoring-deliveries-due"] = {
    "task": "monitoring.deliveries_due",
    "schedule": 15.0,
    "options": {"expires": 30.0},
}
CELERY_BEAT_SCHEDULE["monitoring-watchdog"] = {
    "task": "monitoring.watchdog",
    "schedule": WEBAUTO_MONITORING_WATCHDOG_SECONDS,
    "options": {"expires": WEBAUTO_MONITORING_WATCHDOG_SECONDS * 2},
}
CELERY_BEAT_SCHEDULE["monitoring-retention"] = {
    "task": "monitoring.retention",
    "schedule": 3600.0,
    "options": {"expires": 1800.0},
}

# --- Resource manager (resources) --------------------------------
# Capacity per worker host: cores x CPU overcommit (web work mostly waits on the
# network), total memory x memory overcommit, free disk, and this much network.
WEBAUTO_RESOURCES_CPU_OVERCOMMIT = env_float("WEBAUTO_RESOURCES_CPU_OVERCOMMIT", 4.0, minimum=0.01)
WEBAUTO_RESOURCES_MEMORY_OVERCOMMIT = env_float("WEBAUTO_RESOURCES_MEMORY_OVERCOMMIT", 1.0, minimum=0.01)
WEBAUTO_RESOURCES_HOST_NETWORK = env_str("WEBAUTO_RESOURCES_HOST_NETWORK", "1GB/s")
# A critical/high execution that does not fit may stop lower-priority ones.
WEBAUTO_RESOURCES_PREEMPTION = env_bool("WEBAUTO_RESOURCES_PREEMPTION", True)
# Waiting this long raises a queued execution's priority by one step (0: never).
WEBAUTO_RESOURCES_AGEING_SECONDS = env_float("WEBAUTO_RESOURCES_AGEING_SECONDS", 300.0, minimum=0.0)
WEBAUTO_RESOURCES_RECONCILE_SECONDS = env_float("WEBAUTO_RESOURCES_RECONCILE_SECONDS", 5.0, minimum=0.5)
WEBAUTO_RESOURCES_SAMPLE_SECONDS = env_float("WEBAUTO_RESOURCES_SAMPLE_SECONDS", 30.0, minimum=1.0)
WEBAUTO_RESOURCES_SAMPLE_RETENTION_DAYS = env_int("WEBAUTO_RESOURCES_SAMPLE_RETENTION_DAYS", 30, minimum=1)
# Worker heartbeats, and the silence after which a worker is lost.
WEBAUTO_WORKER_HEARTBEAT_SECONDS = env_float("WEBAUTO_WORKER_HEARTBEAT_SECONDS", 5.0, minimum=0.2)
WEBAUTO_WORKER_LOST_SECONDS = env_float("WEBAUTO_WORKER_LOST_SECONDS", 30.0, minimum=1.0)
# What this worker offers when it should use less than its machine (empty: all).
WEBAUTO_WORKER_CPU_LIMIT_MILLICORES: int | None = None
if env_str("WEBAUTO_WORKER_CPU_LIMIT", ""):
    WEBAUTO_WORKER_CPU_LIMIT_MILLICORES = round(
        env_float("WEBAUTO_WORKER_CPU_LIMIT", 0.0, minimum=0.001) * 1000
    )
WEBAUTO_WORKER_MEMORY_LIMIT = env_str("WEBAUTO_WORKER_MEMORY_LIMIT", "")


from orchestration.units import parse_rate as _parse_rate  # noqa: E402  (pure module, no Django)
from orchestration.units import parse_size as _parse_size  # noqa: E402

try:
    WEBAUTO_RESOURCES_HOST_NETWORK_BYTES = _parse_rate(WEBAUTO_RESOURCES_HOST_NETWORK)
    WEBAUTO_WORKER_MEMORY_LIMIT_BYTES = _parse_size(WEBAUTO_WORKER_MEMORY_LIMIT) if WEBAUTO_WORKER_MEMORY_LIMIT else None
except ValueError as _exc:
    raise ImproperlyConfigured(f"WEBAUTO_RESOURCES_HOST_NETWORK / WEBAUTO_WORKER_MEMORY_LIMIT: {_exc}") from None

# Safety nets against a leak in a pool process (none is known: see README,
# "Memory"): a pool process is replaced after finishing the task during which
# its peak resident memory passed this size, or after this many tasks.
# Celery reads the first in KiB; 0 or an empty value turns either off.
_max_child_memory = env_str("WEBAUTO_WORKER_MAX_MEMORY_PER_CHILD", "400MB")
try:
    CELERY_WORKER_MAX_MEMORY_PER_CHILD = (
        _parse_size(_max_child_memory) // 1024 if _max_child_memory not in ("", "0") else None
    )
except ValueError as _exc:
    raise ImproperlyConfigured(f"WEBAUTO_WORKER_MAX_MEMORY_PER_CHILD: {_exc}") from None
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("WEBAUTO_WORKER_MAX_TASKS_PER_CHILD", 0, minimum=0) or None
# A full garbage collection in each pool process after this many tasks (0: off;
# see webauto/celery.py, _full_collection_between_tasks).
WEBAUTO_WORKER_GC_EVERY_TASKS = env_int("WEBAUTO_WORKER_GC_EVERY_TASKS", 10, minimum=0)
CELERY_BEAT_SCHEDULE["resources-reconcile"] = {
    "task": "resources.reconcile",
    "schedule": WEBAUTO_RESOURCES_RECONCILE_SECONDS,
    "options": {"expires": WEBAUTO_RESOURCES_RECONCILE_SECONDS * 2},
}
CELERY_BEAT_SCHEDULE["resources-sample-system"] = {
    "task": "resources.sample_system",
    "schedule": WEBAUTO_RESOURCES_SAMPLE_SECONDS,
    "options": {"expires": WEBAUTO_RESOURCES_SAMPLE_SECONDS * 2},
}

# --- Scheduling ---------------------------------------------------------------
# Longest beat sleeps between looks at its table and at the schedules'
# cursors (django-celery-beat's default is 5 s).
CELERY_BEAT_MAX_LOOP_INTERVAL = env_float("WEBAUTO_BEAT_MAX_LOOP_INTERVAL", 0.25, minimum=0.05)
# The stock DatabaseScheduler with one-query loads and spaced re-reads, which
# also reads due schedules from their cursors and sends them in batches (see
# scheduling/beat.py).
CELERY_BEAT_SCHEDULER = "scheduling.beat:DatabaseScheduler"
WEBAUTO_BEAT_MIN_RELOAD_SECONDS = env_float("WEBAUTO_BEAT_MIN_RELOAD_SECONDS", 0.2, minimum=0.0)
# Schedules fired by one message (one transaction on the worker).
WEBAUTO_BEAT_FIRE_BATCH = env_int("WEBAUTO_BEAT_FIRE_BATCH", 10, minimum=1)
# A due schedule whose cursor has not moved this long after beat sent it is sent again.
WEBAUTO_BEAT_FIRE_RESEND_SECONDS = env_float("WEBAUTO_BEAT_FIRE_RESEND_SECONDS", 10.0, minimum=1.0)
# Safety net that fires schedules beat missed and tidies fired beat entries.
WEBAUTO_SCHEDULE_WATCHDOG_SECONDS = env_float("WEBAUTO_SCHEDULE_WATCHDOG_SECONDS", 15.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["scheduling-watchdog"] = {
    "task": "scheduling.watchdog",
    "schedule": WEBAUTO_SCHEDULE_WATCHDOG_SECONDS,
    "options": {"expires": WEBAUTO_SCHEDULE_WATCHDOG_SECONDS * 2},
}
# Fire history older than this is deleted hourly (schedules with maxRuns keep theirs).
WEBAUTO_SCHEDULE_HISTORY_DAYS = env_int("WEBAUTO_SCHEDULE_HISTORY_DAYS", 90, minimum=1)
CELERY_BEAT_SCHEDULE["scheduling-prune-history"] = {
    "task": "scheduling.prune_history",
    "schedule": 3600.0,
    "options": {"expires": 1800},
}
