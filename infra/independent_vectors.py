"""Signatures made by the providers' own libraries (and Python's hmac for schemes whose
provider publishes no signer — confirmed by the provider's own verifier where it has one,
as Square's), for Inlet's verifiers to accept byte for byte.

Usage: python independent_vectors.py OUT.json [--seed N]
Each run draws fresh secrets and bodies (unicode, whitespace, large); the Rust suite reads
OUT.json through INLET_INDEPENDENT_VECTORS, or the committed fixture when run alone.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import random
import sys

import urllib.parse

import stripe
import nacl.signing
from Adyen.util import generate_notification_sig, is_valid_hmac_notification
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography import x509
from cryptography.x509.oid import NameOID
from discord_interactions import verify_key as discord_verify_key
from paypalrestsdk.notifications import WebhookEvent as PaypalWebhookEvent
from hubspot.utils.signature import Signature as HubspotSignature
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from paddle_billing.Notifications.Secret import Secret as PaddleSecret
from sendgrid.helpers.eventwebhook import EventWebhook
from slack_sdk.signature import SignatureVerifier
from square.utils.webhooks_helper import verify_signature as square_verify_signature
from twilio.request_validator import RequestValidator as TwilioRequestValidator
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook


def bodies(rng):
    yield json.dumps({"id": "evt_%d" % rng.randrange(10**9), "type": "invoice.paid", "data": {"object": {"id": "in_1", "object": "invoice"}}})
    yield json.dumps({"id": "evt_u%d" % rng.randrange(10**9), "type": "customer.updated", "name": "Zoë Ångström — 東京 🚀"}, ensure_ascii=False)
    yield '{\n  "id": "evt_ws%d",\n  "type": "x.y",\n  "spaces": "  kept  exactly  "\n}\n' % rng.randrange(10**9)
    yield json.dumps({"id": "evt_big%d" % rng.randrange(10**9), "type": "big", "blob": "x" * 20_000})


def b64(raw):
    return base64.b64encode(raw).decode()


def mac(secret, message, digest=hashlib.sha256):
    return hmac.new(secret.encode(), message.encode(), digest).digest()


# Catalogue presets whose providers publish no signer: Python's hmac over the construction
# each provider documents (header -> value from (secret, ts, body)), per preset.
def hmac_rows(secret, ts, body, msg_id):
    rfc = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    zts = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "woocommerce": {"X-WC-Webhook-Signature": b64(mac(secret, body))},
        "lemon-squeezy": {"X-Signature": mac(secret, body).hex()},
        "zendesk": {"X-Zendesk-Webhook-Signature": b64(mac(secret, zts + body)), "X-Zendesk-Webhook-Signature-Timestamp": zts},
        "intercom": {"X-Hub-Signature": "sha1=" + mac(secret, body, hashlib.sha1).hex()},
        "xero": {"x-xero-signature": b64(mac(secret, body))},
        "quickbooks": {"intuit-signature": b64(mac(secret, body))},
        "zoom": {"x-zm-signature": "v0=" + mac(secret, "v0:%d:%s" % (ts, body)).hex(), "x-zm-request-timestamp": str(ts)},
        "calendly": {"Calendly-Webhook-Signature": "t=%d,v1=%s" % (ts, mac(secret, "%d.%s" % (ts, body)).hex())},
        "typeform": {"Typeform-Signature": "sha256=" + b64(mac(secret, body))},
        "docusign": {"X-DocuSign-Signature-1": b64(mac(secret, body))},
        "bitbucket": {"X-Hub-Signature": "sha256=" + mac(secret, body).hex()},
        "jira": {"X-Hub-Signature": "sha256=" + mac(secret, body).hex()},
        "linear": {"Linear-Signature": mac(secret, body).hex()},
        "meta": {"X-Hub-Signature-256": "sha256=" + mac(secret, body).hex()},
        "twitch": {"Twitch-Eventsub-Message-Signature": "sha256=" + mac(secret, msg_id + rfc + body).hex(),
                   "Twitch-Eventsub-Message-Id": msg_id, "Twitch-Eventsub-Message-Timestamp": rfc},
    }


def catalogue_cases(rng, now):
    cases = []
    for body in bodies(rng):
        msg_id = "%032x" % rng.getrandbits(128)
        secret = "sec-%x" % rng.getrandbits(64)
        for scheme, headers in hmac_rows(secret, now, body, msg_id).items():
            signed = body
            if scheme == "linear":
                # Linear signs its webhookTimestamp (Unix ms) inside the body; its SDK
                # refuses a body without one, and so does the preset.
                signed = json.dumps(dict(json.loads(body), webhookTimestamp=now * 1000), ensure_ascii=False)
                headers = {"Linear-Signature": mac(secret, signed).hex()}
            cases.append({"library": "python-hmac", "scheme": scheme, "secret": secret, "body": signed, "now": now, "headers": headers})

        # Discord: Ed25519 over timestamp + body; discord-interactions' verify_key confirms.
        key = nacl.signing.SigningKey.generate()
        public = key.verify_key.encode().hex()
        sig = key.sign((str(now) + body).encode()).signature.hex()
        assert discord_verify_key(body.encode(), sig, str(now), public)
        cases.append({"library": "discord-interactions", "scheme": "discord", "secret": public, "body": body, "now": now,
                      "headers": {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": str(now)}})

        # SendGrid: ECDSA P-256 over timestamp + body, the key as the console shows it (base64 DER).
        key = ec.generate_private_key(ec.SECP256R1())
        public = b64(key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        sig = b64(key.sign((str(now) + body).encode(), ec.ECDSA(hashes.SHA256())))
        ew = EventWebhook()
        assert ew.verify_signature(body, sig, str(now), ew.convert_public_key_to_ecdsa(public))
        cases.append({"library": "sendgrid", "scheme": "sendgrid", "secret": public, "body": body, "now": now,
                      "headers": {"X-Twilio-Email-Event-Webhook-Signature": sig, "X-Twilio-Email-Event-Webhook-Timestamp": str(now)}})

        # Adobe Commerce: RSA PKCS#1 v1.5 SHA-256 over the body (its documented Node check:
        # crypto.createVerify('SHA256')); the public key PEM from the webhooks settings.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        sig = b64(key.sign(body.encode(), padding.PKCS1v15(), hashes.SHA256()))
        cases.append({"library": "python-cryptography", "scheme": "adobe-commerce", "secret": public, "body": body, "now": now,
                      "headers": {"x-adobe-commerce-webhook-signature": sig}})

        # HubSpot v3: the SDK's own signer, over POST + URL + body + timestamp (ms).
        url = "https://hooks.example.com/webhooks/hubspot?portal=%d" % rng.randrange(1000)
        secret = "hs-%x" % rng.getrandbits(64)
        ts_ms = str(now * 1000 + rng.randrange(1000))
        sig = HubspotSignature.get_signature(secret, body, "v3", url, "POST", ts_ms)
        cases.append({"library": "hubspot-api-client", "scheme": "hubspot", "public_url": url, "secret": secret, "body": body,
                      "now": now, "headers": {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": ts_ms}})

        # Paddle: the SDK's HMAC over "ts:body", confirmed by its own verifier.
        secret = "pdl_ntfset_%x" % rng.getrandbits(64)
        h1 = PaddleSignature.calculate_hmac(secret, ("%d:%s" % (now, body)).encode()).hexdigest()
        header = "ts=%d;h1=%s" % (now, h1)
        assert PaddleSignature().verify(header, body, PaddleSecret(secret))
        cases.append({"library": "paddle-python-sdk", "scheme": "paddle", "secret": secret, "body": body, "now": now,
                      "headers": {"Paddle-Signature": header}})

        # Exact Online: upper-case hex HMAC-SHA256 of the Content JSON as sent, beside it in the
        # body (picqer/exact-php-client's Authenticatable is the reference construction).
        secret = "exact-%x" % rng.getrandbits(64)
        content = json.dumps({"Topic": "Accounts", "ClientId": "%032x" % rng.getrandbits(128), "Division": rng.randrange(10**6),
                              "Action": "Update", "Key": "%032x" % rng.getrandbits(128), "Note": json.loads(body).get("name", ""),
                              "EventCreatedOn": "2026-11-29T10:00:00.123"}, ensure_ascii=False)
        signed = '{"Content":%s,"HashCode":"%s"}' % (content, mac(secret, content).hex().upper())
        cases.append({"library": "python-hmac", "scheme": "exact-online", "secret": secret, "body": signed, "now": now, "headers": {}})

        # Mailgun: hex HMAC-SHA256 of timestamp + token, inside the body.
        secret = "key-%x" % rng.getrandbits(64)
        token = "%050x" % rng.getrandbits(200)
        signed = json.dumps({"signature": {"timestamp": str(now), "token": token,
                                           "signature": mac(secret, str(now) + token).hex()},
                             "event-data": {"id": msg_id, "event": "delivered", "note": json.loads(body).get("name", "")}},
                            ensure_ascii=False)
        cases.append({"library": "python-hmac", "scheme": "mailgun", "secret": secret, "body": signed, "now": now, "headers": {}})

    # Adyen: the SDK signs each NotificationRequestItem and confirms the whole notification.
    for i in range(4):
        key = "%064X" % rng.getrandbits(256)
        items = []
        for j in range(1 + i % 3):
            item = {"pspReference": "%016d" % rng.randrange(10**16), "merchantAccountCode": "Shop",
                    "merchantReference": "order-%d — Zoë" % j, "amount": {"value": rng.randrange(1, 10**6), "currency": "EUR"},
                    "eventCode": "AUTHORISATION", "success": "true", "eventDate": "2026-11-29T10:00:00+01:00"}
            if j:
                item["originalReference"] = items[0]["NotificationRequestItem"]["pspReference"]
            item["additionalData"] = {"hmacSignature": generate_notification_sig(item, key).decode()}
            items.append({"NotificationRequestItem": item})
        doc = {"live": "false", "notificationItems": items}
        assert is_valid_hmac_notification(doc, key)
        cases.append({"library": "Adyen", "scheme": "adyen", "secret": key, "body": json.dumps(doc, ensure_ascii=False),
                      "now": now, "headers": {}})
    cases.extend(certificate_cases(rng, now))
    return cases


def self_signed(common_name, now):
    # A certificate as the provider serves one: RSA-2048, valid around `now`.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(when - dt.timedelta(days=1)).not_valid_after(when + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def sns_string_to_sign(msg):
    # AWS's documented construction: Name\nValue\n for the type's fields, in this order.
    if msg["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join("%s\n%s\n" % (n, msg[n]) for n in names if n in msg)


# AWS SNS and PayPal sign with the key of a certificate they serve; the vectors carry the
# certificate (the suite serves it through its ProviderHttp test double, offline).
def certificate_cases(rng, now):
    cases = []
    key, pem = self_signed("sns.amazonaws.com", now)
    when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    for i, (version, digest) in enumerate([("1", hashes.SHA1()), ("2", hashes.SHA256()), ("2", hashes.SHA256())]):
        topic = "arn:aws:sns:us-east-1:123456789012:orders-%d" % rng.randrange(1000)
        msg = {"Type": "Notification", "MessageId": "%08x-0000-4000-8000-%012x" % (rng.getrandbits(32), rng.getrandbits(48)),
               "TopicArn": topic, "Message": json.dumps({"order": i, "note": "Zoë — 東京"}, ensure_ascii=False),
               "Timestamp": when, "SignatureVersion": version,
               "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-%032x.pem" % rng.getrandbits(128),
               "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
        if i == 2:
            msg["Subject"] = "order.paid"
        sig = key.sign(sns_string_to_sign(msg).encode(), padding.PKCS1v15(), digest)
        msg["Signature"] = b64(sig)
        key.public_key().verify(sig, sns_string_to_sign(msg).encode(), padding.PKCS1v15(), digest)
        cases.append({"library": "python-cryptography", "scheme": "aws-sns", "secret": topic, "certificate": pem,
                      "body": json.dumps(msg, ensure_ascii=False), "now": now, "headers": {"x-amz-sns-message-type": "Notification"}})

    # A subscription confirmation: what Inlet visits (SubscribeURL) only when enabled.
    topic = "arn:aws:sns:us-east-1:123456789012:orders-%d" % rng.randrange(1000)
    token = "%0128x" % rng.getrandbits(512)
    msg = {"Type": "SubscriptionConfirmation", "MessageId": "%08x-0000-4000-8000-%012x" % (rng.getrandbits(32), rng.getrandbits(48)),
           "Token": token, "TopicArn": topic,
           "Message": "You have chosen to subscribe to the topic %s.\nTo confirm the subscription, visit the SubscribeURL included in this message." % topic,
           "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=%s&Token=%s" % (topic, token),
           "Timestamp": when, "SignatureVersion": "2",
           "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-%032x.pem" % rng.getrandbits(128)}
    msg["Signature"] = b64(key.sign(sns_string_to_sign(msg).encode(), padding.PKCS1v15(), hashes.SHA256()))
    cases.append({"library": "python-cryptography", "scheme": "aws-sns", "secret": topic, "certificate": pem,
                  "body": json.dumps(msg), "now": now, "headers": {"x-amz-sns-message-type": "SubscriptionConfirmation"}})

    # PayPal: the string to sign built by PayPal's own SDK (paypalrestsdk), RSA-SHA256.
    key, pem = self_signed("messageverificationcerts.paypal.com", now)
    for body in bodies(rng):
        webhook_id = "%016X" % rng.getrandbits(64)
        transmission_id = "%08x-%04x-11ee-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48))
        ts = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        expected = PaypalWebhookEvent._get_expected_sig(transmission_id, ts, webhook_id, body)
        sig = b64(key.sign(expected.encode(), padding.PKCS1v15(), hashes.SHA256()))
        cases.append({"library": "paypalrestsdk", "scheme": "paypal", "secret": webhook_id, "certificate": pem, "body": body, "now": now,
                      "headers": {"PAYPAL-TRANSMISSION-ID": transmission_id, "PAYPAL-TRANSMISSION-TIME": ts,
                                  "PAYPAL-TRANSMISSION-SIG": sig, "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                                  "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-%x" % rng.getrandbits(32)}})
    return cases


def main():
    out = sys.argv[1]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--seed" else random.randrange(2**31)
    rng = random.Random(seed)
    now = 1_700_000_000 + rng.randrange(10**8)
    when = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
    cases = []
    for body in bodies(rng):
        raw = bytes(rng.randrange(256) for _ in range(24))
        whsec = "whsec_" + base64.b64encode(raw).decode()
        msg_id = "msg_%032x" % rng.getrandbits(128)

        sig = StandardWebhook(whsec).sign(msg_id, when, body)
        cases.append({"library": "standardwebhooks", "scheme": "standard-webhooks", "secret": whsec, "body": body, "now": now,
                      "headers": {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": sig}})

        sig = SvixWebhook(whsec).sign(msg_id, when, body)
        cases.append({"library": "svix", "scheme": "svix", "secret": whsec, "body": body, "now": now,
                      "headers": {"svix-id": msg_id, "svix-timestamp": str(now), "svix-signature": sig}})

        stripe_secret = "whsec_" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
        v1 = stripe.WebhookSignature._compute_signature("%d.%s" % (now, body), stripe_secret)
        cases.append({"library": "stripe", "scheme": "stripe", "secret": stripe_secret, "body": body, "now": now,
                      "headers": {"Stripe-Signature": "t=%d,v1=%s,v0=%s" % (now, v1, "0" * 64)}})

        slack_secret = "%032x" % rng.getrandbits(128)
        sig = SignatureVerifier(slack_secret).generate_signature(timestamp=str(now), body=body)
        cases.append({"library": "slack_sdk", "scheme": "slack", "secret": slack_secret, "body": body, "now": now,
                      "headers": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": sig}})

        gh_secret = "gh-%x" % rng.getrandbits(64)
        digest = hmac.new(gh_secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        cases.append({"library": "python-hmac", "scheme": "github", "secret": gh_secret, "body": body, "now": now,
                      "headers": {"X-Hub-Signature-256": "sha256=" + digest, "X-GitHub-Delivery": msg_id, "X-GitHub-Event": "push"}})

        shop_secret = "shp-%x" % rng.getrandbits(64)
        digest = base64.b64encode(hmac.new(shop_secret.encode(), body.encode(), hashlib.sha256).digest()).decode()
        cases.append({"library": "python-hmac", "scheme": "shopify", "secret": shop_secret, "body": body, "now": now,
                      "headers": {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/updated", "X-Shopify-Webhook-Id": msg_id}})

    # URL-signing providers: the URL is part of what is signed.
    for i, note in enumerate(["hello", "Zoë Ångström — 東京 🚀", "a=b&c=d +plus", "x" * 5_000]):
        url = "https://hooks.example.com/webhooks/twilio?tenant=%d" % rng.randrange(1000)
        params = {"MessageSid": "SM%032x" % rng.getrandbits(128), "From": "+15550100%d" % i, "To": "+15550199", "Body": note,
                  "MessageStatus": "delivered"}
        token = "%032x" % rng.getrandbits(128)
        sig = TwilioRequestValidator(token).compute_signature(url, params)
        assert TwilioRequestValidator(token).validate(url, params, sig)
        cases.append({"library": "twilio", "scheme": "twilio", "public_url": url, "secret": token,
                      "body": urllib.parse.urlencode(params), "now": now,
                      "headers": {"X-Twilio-Signature": sig, "I-Twilio-Idempotency-Token": "idem-%d" % i}})

        url = "https://hooks.example.com/webhooks/square/%d" % rng.randrange(1000)
        body = json.dumps({"merchant_id": "M1", "type": "payment.updated", "event_id": "ev-%032x" % rng.getrandbits(128),
                           "data": {"type": "payment", "id": "p%d" % i, "object": {"note": note}}}, ensure_ascii=False)
        key = "sq-%x" % rng.getrandbits(64)
        sig = base64.b64encode(hmac.new(key.encode(), (url + body).encode(), hashlib.sha256).digest()).decode()
        # Square's SDK has no signer: its own verifier confirms the vector first.
        assert square_verify_signature(request_body=body, signature_header=sig, signature_key=key, notification_url=url)
        cases.append({"library": "squareup", "scheme": "square", "public_url": url, "secret": key, "body": body, "now": now,
                      "headers": {"x-square-hmacsha256-signature": sig}})

    cases.extend(catalogue_cases(rng, now))
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"seed": seed, "cases": cases}, f, ensure_ascii=False)
    print("wrote %d independent signature vectors (seed %d) to %s" % (len(cases), seed, out))


if __name__ == "__main__":
    main()
