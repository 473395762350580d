"""Stripe's API for tests, on this machine: localstripe (a separate process) and a fake of our
own for what localstripe lacks. README.md beside this file says what each one does.

    def test_backfill(localstripe):            # localstripe, emptied for this test
        client = localstripe.client()          # a stripe.StripeClient pointed at it
        ...

    def test_pagination(fake_stripe):          # tests.stripe_api.fake.FakeStripe
        fake_stripe.add("customer", email="a@example.com")
        client = fake_stripe.client(max_network_retries=2)
        ...
"""
