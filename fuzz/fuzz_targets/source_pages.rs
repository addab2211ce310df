//! The reconciliation sources' response handling: Stripe event lists, GitHub delivery
//! listings, Shopify resource pages, generic JSON change feeds (timestamp and token
//! cursors), `Link` headers and the rate-limit headers. Whatever a provider API (or a
//! proxy in front of it) answers becomes a page or a `BadResponse`, never a panic, and a
//! rate-limit wait is bounded.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use inlet_core::config::Config;
use inlet_core::source_config::{CursorKind, SourceKind};
use inlet_core::usecase::reconcile::FetchRequest;
use inlet_sources::github::DeliveryIndex;
use inlet_sources::http_json::HttpJson;
use inlet_sources::shopify::ShopifyResource;
use inlet_sources::{link, stripe, Auth, Fetcher};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"
[[providers]]
name = "stripe"
scheme = "stripe"
secrets = ["whsec_x"]
[[providers]]
name = "github"
scheme = "github"
secrets = ["x"]
[[providers]]
name = "shopify"
scheme = "shopify"
secrets = ["x"]
[[providers]]
name = "erp"
scheme = "github"
secrets = ["x"]
id_pointer = "/id"
[[sinks]]
kind = "stdout"
[[sources]]
name = "stripe-events"
provider = "stripe"
kind = "stripe-events"
api_key = "sk_x"
[[sources]]
name = "github-deliveries"
provider = "github"
kind = "github-deliveries"
api_key = "ghp_x"
owner = "acme"
repo = "shop"
hook_id = 1
[[sources]]
name = "shopify"
provider = "shopify"
kind = "shopify"
api_base = "https://acme.myshopify.com"
api_key = "shpat_x"
resources = ["orders"]
[[sources]]
name = "erp-time"
provider = "erp"
kind = "http-json"
api_base = "https://erp.example"
url = "{api_base}/changes?since={cursor}&limit={limit}"
cursor = "timestamp"
items_pointer = "/data"
id_pointer = "/id"
updated_at_pointer = "/updated_at"
entity_pointer = "/entity"
page_size = 3
[[sources]]
name = "erp-token"
provider = "erp"
kind = "http-json"
api_base = "https://erp.example"
url = "{api_base}/changes?after={cursor}"
cursor = "token"
first_cursor = "0"
items_pointer = "/items"
id_pointer = "/id"
next_cursor_pointer = "/next"
"#;

struct Feeds {
    config: Config,
    shopify: ShopifyResource,
    erp_time: HttpJson,
    erp_token: HttpJson,
}

fn feeds() -> &'static Feeds {
    static FEEDS: OnceLock<Feeds> = OnceLock::new();
    FEEDS.get_or_init(|| {
        let config = Config::from_toml(CONFIG, &|_| None).expect("the harness config loads");
        let fetcher =
            Arc::new(Fetcher::new(Duration::from_secs(1), 1, Auth::None).expect("a client builds"));
        let http_json = |i: usize| match &config.sources[i].kind {
            SourceKind::HttpJson(spec) => HttpJson::new(&config.sources[i], spec, fetcher.clone()),
            _ => unreachable!("source {i} is http-json"),
        };
        let (erp_time, erp_token) = (http_json(3), http_json(4));
        let shopify =
            ShopifyResource::new(&config.sources[2], "orders", "2024-10", fetcher.clone());
        if let SourceKind::HttpJson(spec) = &config.sources[4].kind {
            assert_eq!(spec.cursor, CursorKind::Token);
        }
        Feeds {
            config,
            shopify,
            erp_time,
            erp_token,
        }
    })
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    which: u8,
    body: &'a [u8],
    link: &'a str,
    cursor: Option<&'a str>,
    resume: bool,
    floor: i64,
    headers: Vec<(&'a str, &'a str)>,
    status: u16,
}

fuzz_target!(|input: Input<'_>| {
    let feeds = feeds();
    let _ = link::next(input.link);
    let mut map = http::HeaderMap::new();
    for (name, value) in &input.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
    if let Some(wait) = inlet_sources::rate_limit_wait(input.status, &map) {
        // The fetcher adds the wait to `Instant::now()`: it must not overflow.
        assert!(wait <= Duration::from_secs(3600));
        let _ = Instant::now() + wait;
    }
    let _ = inlet_sources::shopify_slowdown(&map);

    let Ok(body) = serde_json::from_slice::<serde_json::Value>(input.body) else {
        return;
    };
    let req = FetchRequest {
        cursor: input.cursor,
        since: time::OffsetDateTime::UNIX_EPOCH,
        deadline: None,
        resume: input.resume,
    };
    let link = (!input.link.is_empty()).then_some(input.link);
    match input.which % 5 {
        0 => {
            if let Ok((events, _)) = stripe::read_list_page(&body) {
                let _ = stripe::changes_from_events(&feeds.config.sources[0], events);
            }
        }
        1 => {
            let mut index = DeliveryIndex::default();
            if index.read_page(&body, input.floor).is_ok() {
                let _ = index.into_changes(&feeds.config.sources[1]);
            }
        }
        2 => {
            let _ = feeds.shopify.read_page(&body, link, input.cursor);
        }
        3 => {
            let _ = feeds
                .erp_time
                .read_page(&body, input.cursor.unwrap_or(""), None, req);
        }
        _ => {
            let _ = feeds
                .erp_token
                .read_page(&body, input.cursor.unwrap_or(""), None, req);
        }
    }
});
