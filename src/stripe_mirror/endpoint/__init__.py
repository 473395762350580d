"""Stage 1, the endpoint: the Django view that reads a webhook's body and answers Stripe.

May import verification (stage 2), dispatch (stage 3: record, hand off) and the foundation.
"""
