"""gunicorn settings for production (docs/deployment.md).

    gunicorn -c gunicorn.conf.py 'app:create_app()'

Every value can be changed through the environment without editing this file. Workers are
plain sync processes: each opens its own database connections after the fork (no preload), and
the scheduler runs as its own process, never inside a worker.
"""

import multiprocessing
import os

bind = os.environ.get("LUOSHI_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LUOSHI_WORKERS", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
# Exports of a whole year (台账, 通报, the audit trail as .xlsx) can take tens of seconds.
timeout = int(os.environ.get("LUOSHI_WORKER_TIMEOUT", 120))
graceful_timeout = 30
# Recycle workers now and then so that a slow leak can never grow without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# Only the reverse proxy on this host may set X-Forwarded-*; the app's PROXY_HOPS decides how
# many of them it believes.
forwarded_allow_ips = os.environ.get("LUOSHI_FORWARDED_ALLOW_IPS", "127.0.0.1")
# A production start: create_app() refuses the default SECRET_KEY.
raw_env = ["LUOSHI_PRODUCTION=true"]
