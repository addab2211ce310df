//! HTML for the console: escaping, the page frame, and small builders. Server-rendered,
//! no frontend build; the one script (live updates) and the stylesheet are served from
//! the binary.

use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a path segment or query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The link to one event's page.
pub fn event_href(key: &str) -> String {
    format!("/console/events/{}", enc(key))
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
pub fn frame(title: &str, current: &str, flash: Option<&str>, body: &str) -> String {
    let mut nav = String::new();
    for (href, label) in NAV {
        let mark = if href == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{mark}>{label}</a>");
    }
    let flash = flash
        .map(|f| format!("<p class=\"flash\" id=\"flash\">{}</p>", esc(f)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · Inlet</title><link rel=\"stylesheet\" href=\"/console/static/console.css\">\
         <script src=\"/console/static/console.js\" defer></script></head>\
         <body><header><strong>Inlet</strong><nav>{nav}</nav></header><main><h1>{}</h1>{flash}{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

/// A hidden CSRF field for a form.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A table: headers and rows of already-escaped cells.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\" id=\"{id}\">{}</p>", esc(empty));
    }
    let mut out = format!("<table id=\"{id}\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A definition list of (label, escaped value).
pub fn facts(items: &[(&str, String)]) -> String {
    let mut out = String::from("<dl>");
    for (k, v) in items {
        let _ = write!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    }
    out.push_str("</dl>");
    out
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
.card{border:1px solid #dde2e8;padding:.6em .8em;border-radius:4px}.card b{font-size:1.5em;display:block}";

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
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(
            event_href("stripe:evt_1/../x?y"),
            "/console/events/stripe%3Aevt_1%2F..%2Fx%3Fy"
        );
    }
}
