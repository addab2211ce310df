//! The frame every console page shares and the small pieces pages are built from. Pages are
//! `maud` templates: every `(value)` is escaped when rendered, so text from a provider or an
//! operator cannot become markup; the only raw HTML is the static stylesheet and script.

use maud::{html, Markup, DOCTYPE};

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Percent-encode a path segment: as a query value, but a space is `%20` (a `+` in a path
/// is a plus sign; a literal `+` is already `%2B`).
pub fn segment(s: &str) -> String {
    enc(s).replace('+', "%20")
}

pub use crate::out::rfc3339 as time;

/// The link to one event's page: always a path of this console, whatever the key holds.
pub fn event_href(key: &str) -> String {
    format!("/console/events/{}", segment(key))
}

const NAV: [(&str, &str); 6] = [
    ("/console", "Overview"),
    ("/console/events", "Events"),
    ("/console/dlq", "Dead letters"),
    ("/console/reviews", "Reviews"),
    ("/console/schema", "Schema"),
    ("/console/sources", "Sources"),
];

/// A whole page: the frame, navigation (the current page marked), a flash message.
pub fn frame(title: &str, current: &str, flash: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { (title) " · Inlet" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                header {
                    strong { "Inlet" }
                    nav {
                        @for (href, label) in NAV {
                            a href=(href) aria-current=[(href == current).then_some("page")] { (label) }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(flash) = flash {
                        p.flash #flash { (flash) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A hidden CSRF field for a form.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A table of rendered cells, or the `empty` sentence when there are no rows.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<Markup>], empty: &str) -> Markup {
    html! {
        @if rows.is_empty() {
            p.empty id=(id) { (empty) }
        } @else {
            table id=(id) {
                thead { tr { @for h in headers { th { (h) } } } }
                tbody {
                    @for row in rows {
                        tr { @for cell in row { td { (cell) } } }
                    }
                }
            }
        }
    }
}

/// A link to an event's page, its key as the text.
pub fn event_link(key: &str) -> Markup {
    html! { a href=(event_href(key)) { (key) } }
}

/// An event's or attempt's state, coloured by the stylesheet.
pub fn state(state: &str, id: Option<&str>) -> Markup {
    html! { span id=[id] class={ "state-" (state) } { (state) } }
}

/// A count in a card.
pub fn card(label: &str, value: impl std::fmt::Display) -> Markup {
    html! { div.card { b { (value.to_string()) } (label) } }
}

pub const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a}\
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1d3557;color:#fff}\
header a{color:#dfe8f5;margin-right:1em;text-decoration:none}header a[aria-current]{color:#fff;font-weight:600;text-decoration:underline}\
main{padding:1em 1.2em;max-width:80em}table{border-collapse:collapse;width:100%;margin:.6em 0}\
th,td{border-bottom:1px solid #dde2e8;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f3f5f8}td.num{text-align:right}pre{background:#f3f5f8;padding:.8em;overflow:auto;max-height:30em}\
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{color:#5b6570}dd{margin:0}\
.flash{background:#e7f5e9;border:1px solid #9fd3a8;padding:.5em .8em}.error{background:#fbeaea;border-color:#e3a3a3}\
.state-dead-lettered,.state-retrying{color:#b3261e;font-weight:600}.state-delivered,.state-replayed{color:#1b7f3b}\
form.inline{display:inline}fieldset{border:1px solid #dde2e8;margin:.5em 0}label{margin-right:1em}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(14em,1fr));gap:.8em}\
.card{border:1px solid #dde2e8;padding:.6em .8em;border-radius:4px}.card b{font-size:1.5em;display:block}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(26em,1fr));gap:1em}\
figure{margin:0;border:1px solid #dde2e8;border-radius:4px;padding:.5em}figcaption{font-weight:600;margin-bottom:.3em}\
svg.chart{width:100%;height:auto}svg.chart text{font-size:11px;fill:#5b6570}svg.chart .axis{stroke:#c5ccd4;stroke-width:1}\
svg.chart polyline{fill:none;stroke-width:2}svg.chart rect.bar{fill:#457b9d}\
.s-received{stroke:#457b9d;color:#457b9d}.s-delivered{stroke:#1b7f3b;color:#1b7f3b}.s-failed{stroke:#b3261e;color:#b3261e}\
.s-depth{stroke:#6d4c9f;color:#6d4c9f}.s-oldest{stroke:#b86e00;color:#b86e00}\
.legend span{margin-right:1em;font-weight:600}";

/// Live updates: an element with `data-live="URL"` is replaced by a fresh copy of itself
/// from URL every few seconds (the server renders the fragment; no framework).
pub const JS: &str = "document.addEventListener('DOMContentLoaded',function(){\
document.querySelectorAll('[data-live]').forEach(function(el){var url=el.getAttribute('data-live'),id=el.id;\
setInterval(function(){fetch(url,{credentials:'same-origin'})\
.then(function(r){return r.ok?r.text():null}).then(function(html){if(html===null)return;\
var t=document.createElement('div');t.innerHTML=html;var fresh=t.firstElementChild;\
var now=document.getElementById(id);if(fresh&&now&&fresh.id===id){now.replaceWith(fresh);}}).catch(function(){});},2000);});});";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_urls_are_escaped() {
        let page = frame(
            r#"<script>alert("x")</script>&'"#,
            "/console",
            Some("\"><img src=x onerror=alert(1)>"),
            html! {},
        )
        .into_string();
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert_eq!(
            event_href("stripe:evt_1/../x?y"),
            "/console/events/stripe%3Aevt_1%2F..%2Fx%3Fy"
        );
        assert_eq!(event_href("a b+c"), "/console/events/a%20b%2Bc");
        assert_eq!(
            event_link("javascript:alert(1)").into_string(),
            "<a href=\"/console/events/javascript%3Aalert%281%29\">javascript:alert(1)</a>"
        );
    }
}
