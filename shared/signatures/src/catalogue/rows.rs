//! The presets, one row each. Signing rules from each provider's own verification page
//! (`doc`), checked against its SDK where a registry has one (`infra/independent_vectors.py`)
//! and otherwise against the example its documentation publishes (`tests.rs`).

use super::conventions::{Conventions, Field, RecordKey};
use super::{HmacRow, KeyRow, Preset, Tolerance, Verify};
use crate::handshake::Handshake;
use crate::signature::{BodyScheme, CertScheme, Encoding, KeyAlgorithm, Scheme, TimestampFormat};

use Field::{Const, Form, Header as H, Pointer as P};
use TimestampFormat::{Millis, Rfc3339, Seconds};

const TYPE_FIELD: Conventions = Conventions {
    event_type: &[P("/type")],
    ..Conventions::NONE
};

/// Adobe Commerce (and its Magento name): RSA-SHA256 over the body.
const ADOBE_COMMERCE: KeyRow = KeyRow {
    header: "x-adobe-commerce-webhook-signature",
    algorithm: KeyAlgorithm::RsaSha256,
    encoding: Encoding::Base64,
    timestamp_header: None,
    template: "{body}",
};

const ADOBE_COMMERCE_EVENTS: Conventions = Conventions {
    event_type: &[P("/eventName")],
    ..Conventions::NONE
};

/// Meta's apps (Facebook, Instagram, WhatsApp): the app secret over the body.
const META: HmacRow = HmacRow::sha256_hex("X-Hub-Signature-256").prefix("sha256=");

const fn svix_alias(name: &'static str, title: &'static str, doc: &'static str) -> Preset {
    Preset {
        name,
        title,
        verify: Verify::Builtin(|| Scheme::Svix),
        conventions: Conventions::NONE,
        doc,
        note: "Signs with Svix (`svix-id`, `svix-timestamp`, `svix-signature`); the secret starts with whsec_.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    }
}

const fn standard_alias(name: &'static str, title: &'static str, doc: &'static str) -> Preset {
    Preset {
        name,
        title,
        verify: Verify::Builtin(|| Scheme::StandardWebhooks),
        conventions: Conventions::NONE,
        doc,
        note: "Signs with Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`); the secret starts with whsec_.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    }
}

/// Every preset: what [`preset`](super::preset) and [`Verifier::preset`](crate::Verifier::preset) look names up in.
pub static PRESETS: &[Preset] = &[
    // ---- The schemes with modules of their own.
    Preset {
        name: "stripe",
        title: "Stripe",
        verify: Verify::Builtin(|| Scheme::Stripe),
        conventions: Conventions::NONE,
        doc: "https://docs.stripe.com/webhooks#verify-events",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "github",
        title: "GitHub",
        verify: Verify::Builtin(|| Scheme::Github),
        conventions: Conventions::NONE,
        doc: "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "shopify",
        title: "Shopify",
        verify: Verify::Builtin(|| Scheme::Shopify),
        conventions: Conventions::NONE,
        doc: "https://shopify.dev/docs/apps/build/webhooks/subscribe/https",
        note: "The key is {resource}/{id}@{updated_at}, the same one the Shopify reconciliation source builds.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "slack",
        title: "Slack",
        verify: Verify::Builtin(|| Scheme::Slack),
        conventions: Conventions::NONE,
        doc: "https://api.slack.com/authentication/verifying-requests-from-slack",
        note: "url_verification is answered with the challenge.",
        handshake: Some(Handshake::SlackUrlVerification),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "gitlab",
        title: "GitLab",
        verify: Verify::Builtin(|| Scheme::Gitlab),
        conventions: Conventions::NONE,
        doc: "https://docs.gitlab.com/user/project/integrations/webhooks/",
        note: "GitLab does not sign: it sends the secret token (X-Gitlab-Token). Use HTTPS end to end.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "twilio",
        title: "Twilio",
        verify: Verify::UrlSigned(|url| Scheme::Twilio { url }),
        conventions: Conventions::NONE,
        doc: "https://www.twilio.com/docs/usage/webhooks/webhooks-security",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "square",
        title: "Square",
        verify: Verify::UrlSigned(|url| Scheme::Square { url }),
        conventions: Conventions::NONE,
        doc: "https://developer.squareup.com/docs/webhooks/step3validate",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "standard-webhooks",
        title: "Standard Webhooks",
        verify: Verify::Builtin(|| Scheme::StandardWebhooks),
        conventions: Conventions::NONE,
        doc: "https://www.standardwebhooks.com/",
        note: "v1 (HMAC, whsec_) and v1a (Ed25519, whpk_) signatures.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "svix",
        title: "Svix",
        verify: Verify::Builtin(|| Scheme::Svix),
        conventions: Conventions::NONE,
        doc: "https://docs.svix.com/receiving/verifying-payloads/how-manual",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- Commerce.
    Preset {
        name: "woocommerce",
        title: "WooCommerce",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-WC-Webhook-Signature").base64()),
        conventions: Conventions {
            id: &[H("x-wc-webhook-delivery-id")],
            event_type: &[H("x-wc-webhook-topic")],
            entity_type: &[H("x-wc-webhook-resource")],
            entity_id: &[P("/id")],
            version: &[P("/date_modified_gmt")],
            id_suffix: &[],
            per_delivery: false,
            // The body is the REST API's object (a deletion: `{"id": …}` alone), so the
            // key is the woocommerce source's.
            record: Some(RecordKey {
                updated: &[P("/date_modified_gmt")],
                deleted: &[(H("x-wc-webhook-event"), "deleted")],
            }),
        },
        doc: "https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "bigcommerce",
        title: "BigCommerce",
        verify: Verify::Token(None),
        conventions: Conventions {
            id: &[P("/hash")],
            event_type: &[P("/scope")],
            entity_type: &[P("/data/type")],
            entity_id: &[P("/data/id")],
            version: &[P("/created_at")],
            id_suffix: &[],
            per_delivery: false,
            record: None,
        },
        doc: "https://developer.bigcommerce.com/docs/integrations/webhooks",
        note: "BigCommerce does not sign: create the hook with a secret in `headers` and name that header here. The payload holds ids only; fetch the object.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "adobe-commerce",
        title: "Adobe Commerce (Magento) webhooks",
        verify: Verify::Key(ADOBE_COMMERCE),
        conventions: ADOBE_COMMERCE_EVENTS,
        doc: "https://developer.adobe.com/commerce/extensibility/webhooks/signature-verification/",
        note: "Adobe Commerce webhooks are synchronous: configure the hook as a soft failure, since Inlet answers 202 before any consumer runs.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "magento",
        title: "Magento (Adobe Commerce) webhooks",
        verify: Verify::Key(ADOBE_COMMERCE),
        conventions: ADOBE_COMMERCE_EVENTS,
        doc: "https://developer.adobe.com/commerce/extensibility/webhooks/signature-verification/",
        note: "Alias of adobe-commerce.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- Payments.
    Preset {
        name: "adyen",
        title: "Adyen",
        verify: Verify::Body(BodyScheme::Adyen),
        // Adyen's HMAC covers pspReference, originalReference, merchant account and
        // reference, amount, eventCode and success — not the whole body: the key comes from
        // those fields (a retry repeats them), so changing an unsigned field is a duplicate.
        conventions: Conventions {
            id: &[P("/notificationItems/0/NotificationRequestItem/pspReference")],
            id_suffix: &[
                P("/notificationItems/0/NotificationRequestItem/eventCode"),
                P("/notificationItems/0/NotificationRequestItem/success"),
            ],
            event_type: &[P("/notificationItems/0/NotificationRequestItem/eventCode")],
            entity_type: &[Const("payment")],
            entity_id: &[
                P("/notificationItems/0/NotificationRequestItem/originalReference"),
                P("/notificationItems/0/NotificationRequestItem/pspReference"),
            ],
            ..Conventions::NONE
        },
        doc: "https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures/",
        note: "Every notification item must carry a valid additionalData.hmacSignature; the HMAC key is the hex string the Customer Area shows.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "mollie",
        title: "Mollie",
        verify: Verify::Unsigned,
        conventions: Conventions {
            id: &[P("/id"), Form("id")],
            event_type: &[P("/status")],
            entity_type: &[P("/resource")],
            entity_id: &[P("/id"), Form("id")],
            id_suffix: &[
                P("/status"),
                P("/amountRefunded/value"),
                P("/amountChargedBack/value"),
            ],
            per_delivery: true,
            ..Conventions::NONE
        },
        doc: "https://docs.mollie.com/reference/webhooks",
        note: "Mollie does not sign: it posts only the object's id (id=tr_…). With fetch_url (https://api.mollie.com/v2/payments/{id}) and fetch_token (the API key) the webhook fetches the object and enqueues that — the pattern Mollie documents — keyed by id and state; without, the bare id is delivered and the consumer fetches.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "paddle",
        title: "Paddle Billing",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("Paddle-Signature")
                .pairs("ts", "h1", ';')
                .signs("{timestamp}:{body}"),
        ),
        conventions: Conventions {
            id: &[P("/event_id")],
            event_type: &[P("/event_type")],
            entity_id: &[P("/data/id")],
            version: &[P("/occurred_at")],
            ..Conventions::NONE
        },
        doc: "https://developer.paddle.com/webhooks/signature-verification",
        note: "",
        handshake: None,
        tolerance: Tolerance::sdk(5, "Paddle's SDKs (MAX_VALID_TIME_DIFFERENCE): 5 s"),
    },
    Preset {
        name: "lemon-squeezy",
        title: "Lemon Squeezy",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-Signature")),
        conventions: Conventions {
            event_type: &[P("/meta/event_name"), H("x-event-name")],
            entity_type: &[P("/data/type")],
            entity_id: &[P("/data/id")],
            version: &[P("/data/attributes/updated_at")],
            ..Conventions::NONE
        },
        doc: "https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- CRM, support, ERP.
    Preset {
        name: "hubspot",
        title: "HubSpot (signature v3)",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("X-HubSpot-Signature-v3")
                .base64()
                .timestamp("X-HubSpot-Request-Timestamp", Millis)
                .signs("POST{url}{body}{timestamp}"),
        ),
        conventions: Conventions {
            id: &[P("/0/eventId")],
            event_type: &[P("/0/subscriptionType")],
            entity_id: &[P("/0/objectId")],
            version: &[P("/0/occurredAt")],
            ..Conventions::NONE
        },
        doc: "https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests",
        note: "public_url is the target URL exactly as configured in the app (HubSpot signs it).",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "pipedrive",
        title: "Pipedrive",
        verify: Verify::Basic,
        conventions: Conventions {
            event_type: &[P("/event"), P("/meta/action")],
            entity_type: &[P("/meta/entity"), P("/meta/object")],
            entity_id: &[P("/meta/entity_id"), P("/meta/id")],
            version: &[P("/meta/timestamp")],
            // v2 sends the record as `data` (`null` on delete), v1 as `current`: the key
            // is the pipedrive source's.
            record: Some(RecordKey {
                updated: &[P("/data/update_time"), P("/current/update_time")],
                deleted: &[(P("/meta/action"), "delete"), (P("/meta/action"), "deleted")],
            }),
            ..Conventions::NONE
        },
        doc: "https://pipedrive.readme.io/docs/guide-for-webhooks",
        note: "Pipedrive does not sign: set HTTP auth user and password on the webhook. Use HTTPS end to end.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "salesforce",
        title: "Salesforce (HTTP callouts)",
        verify: Verify::Token(None),
        conventions: TYPE_FIELD,
        doc: "https://help.salesforce.com/s/articleView?id=sf.flow_build_extend_httpcallout.htm",
        note: "Salesforce does not sign outbound calls: send a secret header from a Named Credential and name it here.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "zendesk",
        title: "Zendesk",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("X-Zendesk-Webhook-Signature")
                .base64()
                .timestamp("X-Zendesk-Webhook-Signature-Timestamp", Rfc3339)
                .signs("{timestamp}{body}"),
        ),
        conventions: Conventions {
            id: &[P("/id"), H("x-zendesk-webhook-invocation-id")],
            event_type: &[P("/type")],
            entity_id: &[P("/detail/id")],
            ..Conventions::NONE
        },
        doc: "https://developer.zendesk.com/documentation/webhooks/verifying/",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "intercom",
        title: "Intercom",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-Hub-Signature").sha1().prefix("sha1=")),
        conventions: Conventions {
            id: &[P("/id")],
            event_type: &[P("/topic")],
            entity_type: &[P("/data/item/type")],
            entity_id: &[P("/data/item/id")],
            version: &[P("/data/item/updated_at")],
            ..Conventions::NONE
        },
        doc: "https://developers.intercom.com/docs/references/webhooks/webhook-models",
        note: "Signed with the app's client secret.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "freshdesk",
        title: "Freshdesk",
        verify: Verify::Token(None),
        conventions: TYPE_FIELD,
        doc: "https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules",
        note: "Freshdesk does not sign: add a custom header with a secret to the webhook action and name it here.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "xero",
        title: "Xero",
        verify: Verify::Hmac(HmacRow::sha256_hex("x-xero-signature").base64()),
        conventions: Conventions {
            event_type: &[P("/events/0/eventType")],
            entity_type: &[P("/events/0/eventCategory")],
            entity_id: &[P("/events/0/resourceId")],
            version: &[P("/events/0/eventDateUtc")],
            ..Conventions::NONE
        },
        doc: "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/",
        note: "Intent to receive: a correctly signed request gets 2xx, a wrong one 401 — as for every event.",
        handshake: Some(Handshake::Xero),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "quickbooks",
        title: "QuickBooks Online (Intuit)",
        verify: Verify::Hmac(HmacRow::sha256_hex("intuit-signature").base64()),
        conventions: Conventions {
            event_type: &[P("/eventNotifications/0/dataChangeEvent/entities/0/operation")],
            entity_type: &[P("/eventNotifications/0/dataChangeEvent/entities/0/name")],
            entity_id: &[P("/eventNotifications/0/dataChangeEvent/entities/0/id")],
            version: &[P("/eventNotifications/0/dataChangeEvent/entities/0/lastUpdated")],
            ..Conventions::NONE
        },
        doc: "https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications",
        note: "Signed with the app's verifier token.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "exact-online",
        title: "Exact Online",
        verify: Verify::Body(BodyScheme::ExactOnline),
        conventions: Conventions {
            event_type: &[P("/Content/Action")],
            entity_type: &[P("/Content/Topic")],
            entity_id: &[P("/Content/Key")],
            version: &[P("/Content/EventCreatedOn")],
            ..Conventions::NONE
        },
        doc: "https://support.exactonline.com/community/s/knowledge-base#All-All-DNO-Content-webhooks",
        note: "The notification holds the Topic, Action and Key; fetch the record from ExactOnlineEndpoint.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "dynamics-365",
        title: "Dynamics 365 / Dataverse",
        verify: Verify::Token(None),
        conventions: Conventions {
            event_type: &[P("/MessageName")],
            entity_type: &[P("/PrimaryEntityName")],
            entity_id: &[P("/PrimaryEntityId")],
            ..Conventions::NONE
        },
        doc: "https://learn.microsoft.com/en-us/power-apps/developer/data-platform/register-web-hook",
        note: "Register the web hook with authentication HttpHeader and name that header here.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- Messaging and email.
    Preset {
        name: "sendgrid",
        title: "SendGrid Event Webhook",
        verify: Verify::Key(KeyRow {
            header: "X-Twilio-Email-Event-Webhook-Signature",
            algorithm: KeyAlgorithm::EcdsaP256,
            encoding: Encoding::Base64,
            timestamp_header: Some("X-Twilio-Email-Event-Webhook-Timestamp"),
            template: "{timestamp}{body}",
        }),
        conventions: Conventions {
            id: &[P("/0/sg_event_id")],
            event_type: &[P("/0/event")],
            entity_type: &[Const("message")],
            entity_id: &[P("/0/sg_message_id")],
            ..Conventions::NONE
        },
        doc: "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "mailgun",
        title: "Mailgun",
        verify: Verify::Body(BodyScheme::Mailgun),
        conventions: Conventions {
            id: &[P("/event-data/id")],
            event_type: &[P("/event-data/event")],
            entity_type: &[Const("message")],
            entity_id: &[P("/event-data/message/headers/message-id")],
            version: &[P("/event-data/timestamp")],
            ..Conventions::NONE
        },
        doc: "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks",
        note: "Mailgun signs timestamp + token, not the event data: use HTTPS end to end.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "postmark",
        title: "Postmark",
        verify: Verify::Basic,
        conventions: Conventions {
            event_type: &[P("/RecordType")],
            entity_type: &[Const("message")],
            entity_id: &[P("/MessageID")],
            ..Conventions::NONE
        },
        doc: "https://postmarkapp.com/developer/webhooks/webhooks-overview",
        note: "Postmark does not sign: put user:password in the webhook URL (basic auth). Use HTTPS end to end.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "discord",
        title: "Discord",
        verify: Verify::Key(KeyRow {
            header: "X-Signature-Ed25519",
            algorithm: KeyAlgorithm::Ed25519,
            encoding: Encoding::Hex,
            timestamp_header: Some("X-Signature-Timestamp"),
            template: "{timestamp}{body}",
        }),
        conventions: Conventions {
            id: &[P("/id")],
            event_type: &[P("/event/type"), P("/type")],
            ..Conventions::NONE
        },
        doc: "https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers",
        note: "The application's public key, in hex.",
        handshake: Some(Handshake::Discord),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "zoom",
        title: "Zoom",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("x-zm-signature")
                .prefix("v0=")
                .timestamp("x-zm-request-timestamp", Seconds)
                .signs("v0:{timestamp}:{body}"),
        ),
        conventions: Conventions {
            event_type: &[P("/event")],
            entity_id: &[P("/payload/object/id")],
            version: &[P("/event_ts")],
            ..Conventions::NONE
        },
        doc: "https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events",
        note: "Signed with the app's secret token.",
        handshake: Some(Handshake::Zoom),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "calendly",
        title: "Calendly",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("Calendly-Webhook-Signature")
                .pairs("t", "v1", ',')
                .signs("{timestamp}.{body}"),
        ),
        conventions: Conventions {
            event_type: &[P("/event")],
            entity_id: &[P("/payload/uri")],
            version: &[P("/created_at")],
            ..Conventions::NONE
        },
        doc: "https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "typeform",
        title: "Typeform",
        verify: Verify::Hmac(HmacRow::sha256_hex("Typeform-Signature").base64().prefix("sha256=")),
        conventions: Conventions {
            id: &[P("/event_id")],
            event_type: &[P("/event_type")],
            entity_type: &[Const("response")],
            entity_id: &[P("/form_response/token")],
            ..Conventions::NONE
        },
        doc: "https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "docusign",
        title: "DocuSign Connect",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-DocuSign-Signature-1").base64()),
        conventions: Conventions {
            event_type: &[P("/event")],
            entity_type: &[Const("envelope")],
            entity_id: &[P("/data/envelopeId")],
            version: &[P("/generatedDateTime")],
            ..Conventions::NONE
        },
        doc: "https://developers.docusign.com/platform/webhooks/connect/hmac/",
        note: "With several HMAC keys DocuSign adds X-DocuSign-Signature-2…; the first key is checked.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- Developer tools.
    Preset {
        name: "bitbucket",
        title: "Bitbucket Cloud",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-Hub-Signature").prefix("sha256=")),
        conventions: Conventions {
            id: &[H("x-request-uuid")],
            event_type: &[H("x-event-key")],
            ..Conventions::NONE
        },
        doc: "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "jira",
        title: "Jira Cloud",
        verify: Verify::Hmac(HmacRow::sha256_hex("X-Hub-Signature").prefix("sha256=")),
        conventions: Conventions {
            id: &[H("x-atlassian-webhook-identifier")],
            event_type: &[P("/webhookEvent")],
            entity_type: &[Const("issue")],
            entity_id: &[P("/issue/id")],
            version: &[P("/timestamp")],
            ..Conventions::NONE
        },
        doc: "https://developer.atlassian.com/cloud/jira/platform/webhooks/",
        note: "",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "linear",
        title: "Linear",
        verify: Verify::Hmac(HmacRow::sha256_hex("Linear-Signature").body_timestamp("webhookTimestamp", Millis)),
        conventions: Conventions {
            id: &[H("linear-delivery")],
            event_type: &[H("linear-event")],
            entity_type: &[P("/type")],
            entity_id: &[P("/data/id")],
            version: &[P("/data/updatedAt")],
            ..Conventions::NONE
        },
        doc: "https://linear.app/developers/webhooks#securing-webhooks",
        note: "",
        handshake: None,
        tolerance: Tolerance::sdk(60, "@linear/sdk LinearWebhookClient.verify: 60 s"),
    },
    // ---- Platforms.
    Preset {
        name: "meta",
        title: "Meta (Facebook, Instagram, WhatsApp)",
        verify: Verify::Hmac(META),
        conventions: Conventions {
            event_type: &[P("/object")],
            entity_id: &[P("/entry/0/id")],
            ..Conventions::NONE
        },
        doc: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads",
        note: "Signed with the app secret.",
        handshake: Some(Handshake::Meta),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "whatsapp",
        title: "WhatsApp Business (Meta)",
        verify: Verify::Hmac(META),
        conventions: Conventions {
            event_type: &[P("/entry/0/changes/0/field")],
            entity_id: &[P("/entry/0/id")],
            ..Conventions::NONE
        },
        doc: "https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads",
        note: "Alias of meta with WhatsApp's event type.",
        handshake: Some(Handshake::Meta),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "twitch",
        title: "Twitch EventSub",
        verify: Verify::Hmac(
            HmacRow::sha256_hex("Twitch-Eventsub-Message-Signature")
                .prefix("sha256=")
                .timestamp("Twitch-Eventsub-Message-Timestamp", Rfc3339)
                .signs("{header:Twitch-Eventsub-Message-Id}{timestamp}{body}"),
        ),
        conventions: Conventions {
            id: &[H("twitch-eventsub-message-id")],
            event_type: &[P("/subscription/type"), H("twitch-eventsub-subscription-type")],
            ..Conventions::NONE
        },
        doc: "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message",
        note: "",
        handshake: Some(Handshake::Twitch),
        tolerance: Tolerance::sdk(600, "Twitch's docs: older than 10 minutes is a replay"),
    },
    Preset {
        name: "okta",
        title: "Okta event hooks",
        verify: Verify::Token(Some("authorization")),
        conventions: Conventions {
            id: &[P("/eventId")],
            event_type: &[P("/data/events/0/eventType"), P("/eventType")],
            ..Conventions::NONE
        },
        doc: "https://developer.okta.com/docs/concepts/event-hooks/",
        note: "Okta sends the secret configured on the hook in Authorization (or a header you name with `header`).",
        handshake: Some(Handshake::Okta),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "microsoft-graph",
        title: "Microsoft Graph change notifications",
        verify: Verify::Body(BodyScheme::GraphClientState),
        conventions: Conventions {
            event_type: &[P("/value/0/changeType"), P("/value/0/lifecycleEvent")],
            entity_id: &[P("/value/0/resource")],
            ..Conventions::NONE
        },
        doc: "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks",
        note: "Graph does not sign plain notifications: every notification's clientState must equal the secret.",
        handshake: Some(Handshake::Graph),
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "aws-sns",
        title: "Amazon SNS (HTTPS subscriptions)",
        verify: Verify::Certificate(CertScheme::Sns),
        conventions: Conventions {
            id: &[P("/MessageId")],
            event_type: &[P("/Subject"), P("/Type")],
            entity_id: &[P("/TopicArn")],
            ..Conventions::NONE
        },
        doc: "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html",
        note: "The signing certificate is fetched only from https://sns.<region>.amazonaws.com and cached. SubscriptionConfirmation is confirmed (SubscribeURL visited) only with confirm_subscription = true; it is never enqueued.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "paypal",
        title: "PayPal",
        verify: Verify::Certificate(CertScheme::Paypal),
        conventions: Conventions {
            id: &[P("/id")],
            event_type: &[P("/event_type")],
            entity_type: &[P("/resource_type")],
            entity_id: &[P("/resource/id")],
            version: &[P("/resource/update_time"), P("/create_time")],
            ..Conventions::NONE
        },
        doc: "https://developer.paypal.com/api/rest/webhooks/rest/#link-selfverificationmethod",
        note: "The signing certificate is fetched only from https://api(-m)(.sandbox).paypal.com and cached.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    // ---- Svix and Standard Webhooks senders, by name.
    svix_alias("clerk", "Clerk", "https://clerk.com/docs/webhooks/sync-data"),
    svix_alias("resend", "Resend", "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests"),
    standard_alias("openai", "OpenAI", "https://platform.openai.com/docs/guides/webhooks"),
    standard_alias("brex", "Brex", "https://developer.brex.com/docs/webhooks/"),
    standard_alias("replicate", "Replicate", "https://replicate.com/docs/topics/webhooks/verify-webhook"),
    standard_alias("liveblocks", "Liveblocks", "https://liveblocks.io/docs/platform/webhooks"),
    // ---- Generic families for everything else.
    Preset {
        name: "hmac",
        title: "Any HMAC-signing provider",
        verify: Verify::Builtin(|| Scheme::Hmac(crate::signature::HmacSpec::default())),
        conventions: Conventions::NONE,
        doc: "https://github.com/inlet-dev/inlet#providers",
        note: "Set header, algorithm, encoding, prefix, timestamp_header, timestamp_format and signed_content.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "token",
        title: "Any provider sending a shared token",
        verify: Verify::Token(None),
        conventions: TYPE_FIELD,
        doc: "https://github.com/inlet-dev/inlet#providers",
        note: "A secret in a header you name; authenticates the sender, not the body.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
    Preset {
        name: "basic-auth",
        title: "Any provider using HTTP basic auth",
        verify: Verify::Basic,
        conventions: TYPE_FIELD,
        doc: "https://github.com/inlet-dev/inlet#providers",
        note: "Authenticates the sender, not the body.",
        handshake: None,
        tolerance: Tolerance::DEFAULT,
    },
];
