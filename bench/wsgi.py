"""WSGI entry point of the example site as benchmarked: unlike example_site/wsgi.py it leaves
sys.path alone, so that PYTHONPATH decides which stripe_mirror is served (BENCH_SRC)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = get_wsgi_application()
