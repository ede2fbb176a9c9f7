//! Tag lists: paging a complete list as the spec says, and rewriting an upstream's `Link`.

/// Rewrites an upstream tag-list `Link` header to the client's repository name, keeping only
/// the pagination parameters (`n`, `last`).
pub fn rewrite_tags_link(link: &str, client_name: &str) -> Option<String> {
    let start = link.find('<')? + 1;
    let end = start + link[start..].find('>')?;
    let target = &link[start..end];
    let parsed = url::Url::parse("http://upstream.invalid/").ok()?.join(target).ok()?;
    let mut out = url::Url::parse("http://proxy.invalid/").ok()?.join(&format!("/v2/{client_name}/tags/list")).ok()?;
    {
        let mut q = out.query_pairs_mut();
        for (k, v) in parsed.query_pairs() {
            if k == "n" || k == "last" {
                q.append_pair(&k, &v);
            }
        }
    }
    let query = out.query().map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("<{}{}>; rel=\"next\"", out.path(), query))
}

/// Pages a complete tag list as the spec says (lexical order, `last` exclusive, at most `n`),
/// for upstreams that ignore `n` and `last`. Returns the page and the `last` of the next
/// page's link when more tags follow.
pub fn page_tags(mut tags: Vec<String>, n: Option<usize>, last: Option<&str>) -> (Vec<String>, Option<String>) {
    tags.sort();
    tags.dedup();
    if let Some(last) = last {
        tags.retain(|t| t.as_str() > last);
    }
    match n {
        Some(n) if tags.len() > n => {
            tags.truncate(n);
            let next = if n == 0 { None } else { tags.last().cloned() };
            (tags, next)
        }
        _ => (tags, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_link_is_rewritten_to_the_client_name() {
        for (link, want) in [
            (
                r#"</v2/demo/hello/tags/list?last=1.1&n=2>; rel="next""#,
                Some(r#"</v2/proxy/demo/local/demo/hello/tags/list?last=1.1&n=2>; rel="next""#),
            ),
            (
                r#"<https://upstream.example/v2/demo/hello/tags/list?n=2&last=b&evil=1>; rel="next""#,
                Some(r#"</v2/proxy/demo/local/demo/hello/tags/list?n=2&last=b>; rel="next""#),
            ),
            ("garbage", None),
        ] {
            assert_eq!(rewrite_tags_link(link, "proxy/demo/local/demo/hello").as_deref(), want, "{link}");
        }
    }

    #[test]
    fn tag_pages() {
        let tags = || ["latest", "1.0", "2.0", "1.1", "1.2"].map(String::from).to_vec();
        let page = |n, last| page_tags(tags(), n, last);
        assert_eq!(
            page(None, None),
            (vec!["1.0", "1.1", "1.2", "2.0", "latest"].into_iter().map(String::from).collect(), None)
        );
        assert_eq!(page(Some(2), None), (vec!["1.0".into(), "1.1".into()], Some("1.1".into())));
        assert_eq!(page(Some(2), Some("1.1")), (vec!["1.2".into(), "2.0".into()], Some("2.0".into())));
        assert_eq!(page(Some(2), Some("2.0")), (vec!["latest".into()], None));
        assert_eq!(page(Some(0), None), (vec![], None));
        assert_eq!(page(None, Some("zzz")), (vec![], None));
        assert_eq!(page(Some(5), None).1, None);
    }
}
