"""Mount with ``path("stripe/", include("stripe_mirror.urls"))``.

Webhooks then arrive at ``/stripe/webhook/<endpoint-name>/`` (the trailing slash is
optional: Stripe posts to exactly the URL you register, and a POST cannot be redirected).
"""

from django.urls import path, re_path

from .ops.health import health
from .views import webhook

app_name = "stripe_mirror"

urlpatterns = [
    re_path(r"^webhook/(?P<endpoint>[^/]+)/?$", webhook, name="webhook"),
    # Answers 404 until STRIPE_MIRROR["HEALTH_MAX_LAG"] is set (docs/operations.md, Health).
    path("health/", health, name="health"),
]
