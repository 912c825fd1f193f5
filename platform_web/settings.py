"""One settings module for every process, overridden by environment variables.

Defaults work on a laptop with nothing installed (SQLite and files under
`var/`); production refuses to start with the development secret key.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
PRODUCTION = env_bool("PRODUCTION", False)
if PRODUCTION and SECRET_KEY == DEV_SECRET_KEY:
    raise RuntimeError("PRODUCTION=1 needs a SECRET_KEY environment variable of its own.")

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# In production the platform is served over HTTPS (TLS ends at a reverse proxy that sets
# X-Forwarded-Proto): secure cookies, HTTP redirected to HTTPS (except the health check the
# containers call over plain HTTP), HSTS. `manage.py check --deploy` passes with these.
# Also the trainers' internal routes (platform_web/trainer_files): a redirect would drop a PUT's body.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^internal/trainer/"]
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 365 * 24 * 3600))
    # Both default on so check --deploy passes; a site sharing its domain with plain-HTTP hosts turns them off.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
# Pages load scripts, styles, images and sockets from this site only; no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "platform_web.core",
    "platform_web.accounts",
    "platform_web.datasets",
    "platform_web.studies",
    "platform_web.trained_models",
    "platform_web.api_tokens",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "platform_web.core.security_headers.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

# Failed logins are counted per user name and address (django-axes); past the limit the
# login page answers 429 with the wait until the next try, even for the right password.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 10))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_COOLOFF_MINUTES", 15)) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# Sign-ups per address and hour (platform_web/accounts/views.py).
SIGNUPS_PER_IP_PER_HOUR = int(os.environ.get("SIGNUPS_PER_IP_PER_HOUR", 5))

# Per-user limits, so one account cannot fill a shared machine (docs/operations.md).
USER_STORAGE_BYTES = int(os.environ.get("USER_STORAGE_BYTES", 20 * 1024**3))  # the zips of a user's datasets
UPLOADS_PER_MINUTE = int(os.environ.get("UPLOADS_PER_MINUTE", 5))
ACTIVE_STUDIES_PER_USER = int(os.environ.get("ACTIVE_STUDIES_PER_USER", 3))
STUDY_MAX_TRIALS = int(os.environ.get("STUDY_MAX_TRIALS", 1000))
STUDY_MAX_HOURS = float(os.environ.get("STUDY_MAX_HOURS", 48))
# Prediction API requests per token and minute (platform_web/api_tokens/services.py); more get 429.
API_REQUESTS_PER_MINUTE = int(os.environ.get("API_REQUESTS_PER_MINUTE", 60))

ROOT_URLCONF = "platform_web.urls"
ASGI_APPLICATION = "platform_web.asgi.application"

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
            ],
            # One way to write each value, on every page without a {% load %} (core/formatting.py).
            "builtins": ["platform_web.core.templatetags.fmt"],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'platform.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout waits
    # out short write locks instead of failing with "database is locked".
    # IMMEDIATE transactions take the write lock up front: a deferred one that
    # read first cannot wait for it and fails at once when another process wrote.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "datasets:list"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic on a laptop

MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served directly: files go through owner-checked views

# Uploads: streamed to FILE_UPLOAD_TEMP_DIR in chunks, never held in memory.
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 2 * 1024**3))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2  # non-file form fields only
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2
FILE_UPLOAD_TEMP_DIR = str(Path(os.environ.get("UPLOAD_TEMP_DIR", VAR_DIR / "tmp")))
FILE_UPLOAD_PERMISSIONS = 0o640

# Zip limits (zip bombs); real bytes are counted while extracting.
ZIP_MAX_TOTAL_BYTES = int(os.environ.get("ZIP_MAX_TOTAL_BYTES", 8 * 1024**3))
ZIP_MAX_ENTRIES = int(os.environ.get("ZIP_MAX_ENTRIES", 500_000))
ZIP_MAX_RATIO = float(os.environ.get("ZIP_MAX_RATIO", 200))
IMAGE_MAX_PIXELS = int(os.environ.get("IMAGE_MAX_PIXELS", 89_478_485))  # Pillow's default
# Decoded pixels of a whole dataset, and per byte of its zip (worker/ingest/image_checks.PixelBudget).
DATASET_MAX_PIXELS = int(os.environ.get("DATASET_MAX_PIXELS", 50_000_000_000))
DATASET_MAX_PIXELS_PER_ZIP_BYTE = float(os.environ.get("DATASET_MAX_PIXELS_PER_ZIP_BYTE", 1000))
# Processes that decode images during one ingestion (1 = in the worker process itself).
INGEST_PROCESSES = int(os.environ.get("INGEST_PROCESSES", 2))

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TRAINER_URL = os.environ.get("TRAINER_URL", "http://127.0.0.1:8001")
# The inference service (`trainer_api.inference_app`): try-it and the prediction API ask it, never the
# training service, so a prediction never waits behind a trial. Same token as the training service.
INFERENCE_URL = os.environ.get("INFERENCE_URL", "http://127.0.0.1:8002")
DEV_TRAINER_TOKEN = "dev-trainer-token"
TRAINER_TOKEN = os.environ.get("TRAINER_TOKEN", DEV_TRAINER_TOKEN)
if PRODUCTION and TRAINER_TOKEN == DEV_TRAINER_TOKEN:  # the training service refuses it too
    raise RuntimeError(
        "PRODUCTION=1 needs a TRAINER_TOKEN environment variable of its own (the same as the trainer's)."
    )
# Where the training service writes trials' checkpoints and models (shared media volume).
TRAINER_DATA_DIR = Path(os.environ.get("TRAINER_DATA_DIR", MEDIA_ROOT / "trainer"))
# S3-compatible object storage (trainer_api/object_store.py) for trainers without the shared media folder:
# ingestion puts each ready dataset's tar there, the web reads trial files missing on disk from there.
# Empty bucket: off. The URL is the endpoint (MinIO); boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_DEFAULT_REGION itself.
OBJECT_STORAGE_BUCKET = os.environ.get("OBJECT_STORAGE_BUCKET", "").strip()
OBJECT_STORAGE_URL = os.environ.get("OBJECT_STORAGE_URL", "").strip()
# Pretrained weight files (`manage.py import_weights` copies them here); the training service reads the same variable.
TRAINER_WEIGHTS_DIR = Path(os.environ.get("TRAINER_WEIGHTS_DIR") or VAR_DIR / "weights")

# Redis pub/sub: one PUBLISH per group event, fanned out to the group's sockets inside
# each web process (the list-based core layer pushes one message per socket).
# At-most-once either way: the database's event log is the source of truth.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with one fix: a worker survives Redis restarting (see platform_web/broker.py).
    CELERY_BROKER_TRANSPORT = "platform_web.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "ingest"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacknowledged task after this many seconds; it must
# exceed the longest study (tasks are also de-duplicated by id).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 7 * 24 * 3600)),
    # How often a worker looks for tasks past the visibility timeout to hand out again: every
    # interval x throttle seconds (kombu's defaults, 10 x 10). The fault tests shorten it.
    "unacked_restore_interval": float(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", 10)),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", 10)),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# Embedded defaults: the folders the platform writes to exist from the start.
for _folder in (VAR_DIR, MEDIA_ROOT, STATIC_ROOT, Path(FILE_UPLOAD_TEMP_DIR)):
    _folder.mkdir(parents=True, exist_ok=True)
