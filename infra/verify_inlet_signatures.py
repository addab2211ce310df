"""The reverse direction of the independent signature tests: requests signed by
`inlet send --print` must pass the providers' own verifiers.

Usage: python verify_inlet_signatures.py PATH_TO_INLET
Prints 'N passed, N failed' and exits non-zero on any failure.
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time

import stripe
from slack_sdk.signature import SignatureVerifier
import urllib.parse

from square.utils.webhooks_helper import verify_signature as square_verify_signature
from standardwebhooks.webhooks import Webhook as StandardWebhook
from twilio.request_validator import RequestValidator as TwilioRequestValidator
from svix.webhooks import Webhook as SvixWebhook

STANDARD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
SECRETS = {
    "stripe": "whsec_" + os.urandom(12).hex(),
    "github": "gh-" + os.urandom(8).hex(),
    "shopify": "shp-" + os.urandom(8).hex(),
    "slack": os.urandom(16).hex(),
    "acme": STANDARD_SECRET,
    "svixco": STANDARD_SECRET,
    "twilio": os.urandom(16).hex(),
    "square": "sq-" + os.urandom(8).hex(),
}
SCHEMES = {"stripe": "stripe", "github": "github", "shopify": "shopify", "slack": "slack",
           "acme": "standard-webhooks", "svixco": "svix", "twilio": "twilio", "square": "square"}
# What the URL-signing schemes sign along with the body: the public URL, from the config.
PUBLIC_URLS = {"twilio": "https://hooks.example.com/webhooks/twilio?tenant=7",
               "square": "https://hooks.example.com/webhooks/square"}


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def check_stripe(body, h):
    stripe.WebhookSignature.verify_header(body.decode(), h["stripe-signature"], SECRETS["stripe"], tolerance=300)


def check_github(body, h):
    want = "sha256=" + hmac.new(SECRETS["github"].encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, h["x-hub-signature-256"]), "github signature differs"


def check_shopify(body, h):
    want = base64.b64encode(hmac.new(SECRETS["shopify"].encode(), body, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(want, h["x-shopify-hmac-sha256"]), "shopify signature differs"


def check_slack(body, h):
    ok = SignatureVerifier(SECRETS["slack"]).is_valid(body=body.decode(), timestamp=h["x-slack-request-timestamp"],
                                                      signature=h["x-slack-signature"])
    assert ok, "slack_sdk rejected the signature"


def check_standard(body, h):
    StandardWebhook(STANDARD_SECRET).verify(body.decode(), h)


def check_svix(body, h):
    SvixWebhook(STANDARD_SECRET).verify(body.decode(), h)


def check_twilio(body, h):
    params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    ok = TwilioRequestValidator(SECRETS["twilio"]).validate(PUBLIC_URLS["twilio"], params, h["x-twilio-signature"])
    assert ok, "twilio's RequestValidator rejected the signature"


def check_square(body, h):
    ok = square_verify_signature(request_body=body.decode(), signature_header=h["x-square-hmacsha256-signature"],
                                 signature_key=SECRETS["square"], notification_url=PUBLIC_URLS["square"])
    assert ok, "square's verify_signature rejected the signature"


CHECKS = {"twilio": check_twilio, "square": check_square, "stripe": check_stripe, "github": check_github, "shopify": check_shopify, "slack": check_slack,
          "acme": check_standard, "svixco": check_svix}


def main():
    inlet = sys.argv[1]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "inlet.toml")
        with open(cfg, "w") as f:
            for name, scheme in SCHEMES.items():
                f.write('[[providers]]\nname = "%s"\nscheme = "%s"\nsecrets = ["%s"]\n' % (name, scheme, SECRETS[name]))
                if name in PUBLIC_URLS:
                    f.write('public_url = "%s"\n' % PUBLIC_URLS[name])
                f.write("\n")
            f.write('[[sinks]]\nkind = "stdout"\n')
        bodies = [
            b'{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1"}}}',
            json.dumps({"id": "evt_2", "type": "x", "name": "Zo\u00eb \u6771\u4eac \U0001F680"}, ensure_ascii=False).encode(),
            b'{\n  "id": "evt_3",\n  "type": "spaces",   "kept": "  exactly  "\n}\n',
        ]
        # Twilio posts forms: its bodies are the same texts as form values.
        forms = [urllib.parse.urlencode({"MessageSid": "SM%d" % i, "Body": b.decode(), "From": "+15550100"}).encode()
                 for i, b in enumerate(bodies)]
        for i, (json_body, form_body) in enumerate(zip(bodies, forms)):
            for name in SCHEMES:
                body = form_body if name == "twilio" else json_body
                path = os.path.join(d, "body%d-%s" % (i, name))
                with open(path, "wb") as f:
                    f.write(body)
                out = subprocess.run([inlet, "send", name, "--body", path, "--print", "--config", cfg],
                                     capture_output=True, check=False)
                try:
                    assert out.returncode == 0, out.stderr.decode()
                    CHECKS[name](body, lower(json.loads(out.stdout)))
                    passed += 1
                except Exception as e:  # report every failure, not just the first
                    failed += 1
                    print("FAIL %s body%d: %r" % (name, i, e))
    print("signers: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
