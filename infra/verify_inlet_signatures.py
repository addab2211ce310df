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
import re
import subprocess
import sys
import tempfile
import time

import stripe
from Adyen.util import is_valid_hmac_notification
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from discord_interactions import verify_key as discord_verify_key
from hubspot.utils.signature import Signature as HubspotSignature
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from paddle_billing.Notifications.Secret import Secret as PaddleSecret
from sendgrid.helpers.eventwebhook import EventWebhook
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
               "square": "https://hooks.example.com/webhooks/square",
               "hubspot": "https://hooks.example.com/webhooks/hubspot?portal=7"}

# Public-key presets: the config holds the private key (PKCS#8 PEM) so `inlet send` signs;
# the provider's verifier gets the public half.
KEYS = {
    "discord": ed25519.Ed25519PrivateKey.generate(),
    "sendgrid": ec.generate_private_key(ec.SECP256R1()),
    "adobe-commerce": rsa.generate_private_key(public_exponent=65537, key_size=2048),
}
for name, key in KEYS.items():
    SECRETS[name] = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
    SCHEMES[name] = name
for name in ["hubspot", "paddle", "zendesk", "twitch", "calendly", "zoom", "typeform", "exact-online"]:
    SECRETS[name] = name + "-" + os.urandom(8).hex()
    SCHEMES[name] = name
SECRETS["adyen"] = os.urandom(32).hex().upper()
SCHEMES["adyen"] = "adyen"


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


def mac(name, message):
    return hmac.new(SECRETS[name].encode(), message, hashlib.sha256).digest()


def check_discord(body, h):
    public = KEYS["discord"].public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    assert discord_verify_key(body, h["x-signature-ed25519"], h["x-signature-timestamp"], public), "discord-interactions rejected it"


def check_sendgrid(body, h):
    ok = EventWebhook().verify_signature(body.decode(), h["x-twilio-email-event-webhook-signature"],
                                         h["x-twilio-email-event-webhook-timestamp"], KEYS["sendgrid"].public_key())
    assert ok, "sendgrid's EventWebhook rejected the signature"


def check_adobe(body, h):
    KEYS["adobe-commerce"].public_key().verify(base64.b64decode(h["x-adobe-commerce-webhook-signature"]), body,
                                               padding.PKCS1v15(), hashes.SHA256())


def check_hubspot(body, h):
    ok = HubspotSignature.is_valid(h["x-hubspot-signature-v3"], SECRETS["hubspot"], body.decode(), PUBLIC_URLS["hubspot"],
                                   "POST", "v3", h["x-hubspot-request-timestamp"])
    assert ok, "hubspot-api-client rejected the signature"


def check_paddle(body, h):
    assert PaddleSignature().verify(h["paddle-signature"], body.decode(), PaddleSecret(SECRETS["paddle"])), "paddle rejected it"


def check_adyen(body, h):
    doc = json.loads(body)
    for item in doc["notificationItems"]:  # the SDK checks the first item of what it is given
        assert is_valid_hmac_notification({"notificationItems": [item]}, SECRETS["adyen"]), "Adyen rejected an item"


def check_zendesk(body, h):
    ts = h["x-zendesk-webhook-signature-timestamp"]
    assert base64.b64decode(h["x-zendesk-webhook-signature"]) == mac("zendesk", ts.encode() + body)


def check_twitch(body, h):
    signed = h["twitch-eventsub-message-id"].encode() + h["twitch-eventsub-message-timestamp"].encode() + body
    assert h["twitch-eventsub-message-signature"] == "sha256=" + mac("twitch", signed).hex()


def check_calendly(body, h):
    pairs = dict(p.split("=", 1) for p in h["calendly-webhook-signature"].split(","))
    assert pairs["v1"] == mac("calendly", pairs["t"].encode() + b"." + body).hex()


def check_zoom(body, h):
    ts = h["x-zm-request-timestamp"]
    assert h["x-zm-signature"] == "v0=" + mac("zoom", b"v0:" + ts.encode() + b":" + body).hex()


def check_typeform(body, h):
    assert h["typeform-signature"] == "sha256=" + base64.b64encode(mac("typeform", body)).decode()


def check_exact(body, h):
    # picqer/exact-php-client's Authenticatable: {"Content":(.*),"HashCode":"(.*)"}
    m = re.match(rb'^{"Content":(.*),"HashCode":"(.*)"}$', body, re.S)
    assert m, "not Exact Online's shape"
    assert m.group(2).decode() == mac("exact-online", m.group(1)).hex().upper(), "exact-online hash differs"


CHECKS = {"exact-online": check_exact, "discord": check_discord, "sendgrid": check_sendgrid, "adobe-commerce": check_adobe, "hubspot": check_hubspot,
          "paddle": check_paddle, "adyen": check_adyen, "zendesk": check_zendesk, "twitch": check_twitch,
          "calendly": check_calendly, "zoom": check_zoom, "typeform": check_typeform,
          "twilio": check_twilio, "square": check_square, "stripe": check_stripe, "github": check_github, "shopify": check_shopify, "slack": check_slack,
          "acme": check_standard, "svixco": check_svix}


def main():
    inlet = sys.argv[1]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "inlet.toml")
        with open(cfg, "w") as f:
            for name, scheme in SCHEMES.items():
                f.write("[[providers]]\nname = \"%s\"\nscheme = \"%s\"\nsecrets = ['''%s''']\n" % (name, scheme, SECRETS[name]))
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
        # Adyen signs fields inside its notification: `inlet send` writes the signed body.
        notifications = [json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": {
            "pspReference": "79140733813422%02d" % i, "merchantAccountCode": "Shop", "merchantReference": json.loads(b)["id"],
            "amount": {"value": 1000 + i, "currency": "EUR"}, "eventCode": "AUTHORISATION", "success": "true"}}] * (i + 1)},
            ensure_ascii=False).encode() for i, b in enumerate(bodies)]
        for i, (json_body, form_body, notification) in enumerate(zip(bodies, forms, notifications)):
            for name in SCHEMES:
                body = {"twilio": form_body, "adyen": notification}.get(name, json_body)
                path = os.path.join(d, "body%d-%s" % (i, name))
                sent = path + ".sent"
                with open(path, "wb") as f:
                    f.write(body)
                out = subprocess.run([inlet, "send", name, "--body", path, "--print", "--write-body", sent, "--config", cfg],
                                     capture_output=True, check=False)
                try:
                    assert out.returncode == 0, out.stderr.decode()
                    with open(sent, "rb") as f:
                        body = f.read()
                    CHECKS[name](body, lower(json.loads(out.stdout)))
                    passed += 1
                except Exception as e:  # report every failure, not just the first
                    failed += 1
                    print("FAIL %s body%d: %r" % (name, i, e))
    print("signers: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
