"""The example site's URLs plus the bare reference view (bench/bare.py)."""

from django.urls import path
from example_site.urls import urlpatterns as site_urls

from .bare import bare_webhook

urlpatterns = [*site_urls, path("bare/webhook/", bare_webhook)]
