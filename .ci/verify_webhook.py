"""Verifies a webhook delivery captured by the e2e suite with the official
`standardwebhooks` package: the signature must verify, and a tampered body must not."""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

with open(sys.argv[1], encoding="utf-8") as f:
    capture = json.load(f)
hook = Webhook(capture["secret"])
payload = hook.verify(capture["body"], capture["headers"])
assert payload["type"] == "webhook.test", payload
try:
    hook.verify(capture["body"].replace("webhook.test", "webhook.tost"), capture["headers"])
except WebhookVerificationError:
    pass
else:
    sys.exit("a tampered payload verified")
try:
    Webhook("whsec_" + "A" * 43 + "=").verify(capture["body"], capture["headers"])
except WebhookVerificationError:
    pass
else:
    sys.exit("a payload verified with the wrong secret")
print(f"standardwebhooks verified {capture['headers']['webhook-id']}")
