//! RFC 8288 `Link` headers, as GitHub and Shopify paginate with them.

/// The URL of the `rel="next"` link, if any.
pub fn next(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        let is_next = pieces.any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| url.to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_next_among_several() {
        let h = r#"<https://x.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=abc>; rel="previous", <https://x.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=def>; rel="next""#;
        assert_eq!(
            super::next(h).unwrap(),
            "https://x.myshopify.com/admin/api/2024-10/orders.json?limit=2&page_info=def"
        );
        assert_eq!(super::next(r#"<https://a/b>; rel="prev""#), None);
        assert_eq!(super::next("garbage"), None);
        assert_eq!(super::next(""), None);
    }
}
