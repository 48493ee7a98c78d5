//! How the pages of a list follow each other: the paging modes a resource can name, the URL of
//! each page, and where a page's items are.

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

/// How the pages of a list follow each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paging {
    /// One request answers the whole window.
    #[default]
    None,
    /// `?page=1`, `?page=2`, ...: the last page is empty or shorter than `size`.
    Page {
        #[serde(default = "d_page_param")]
        param: String,
        #[serde(default = "d_first_page")]
        first: u64,
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default)]
        size: Option<u32>,
        /// When passes over a window disagree (ties reordered between requests), the page size
        /// is doubled up to this, so that the window fits one request.
        #[serde(default)]
        max_size: Option<u32>,
    },
    /// `?offset=0&limit=100`, `?offset=100&limit=100`, ...
    Offset {
        #[serde(default = "d_offset_param")]
        param: String,
        #[serde(default)]
        size_param: Option<String>,
        size: u32,
        #[serde(default)]
        max_size: Option<u32>,
    },
    /// The answer's `field` (a JSON pointer) holds a cursor, sent back as `param`.
    Cursor { param: String, field: String },
    /// The `Link: <…>; rel="next"` header (RFC 8288).
    Link,
    /// The answer's `field` (a JSON pointer) holds the next page's URL.
    NextUrl { field: String },
}

fn d_page_param() -> String {
    "page".into()
}
fn d_first_page() -> u64 {
    1
}
fn d_offset_param() -> String {
    "offset".into()
}

/// The page size a list starts with.
pub fn page_size(paging: &Paging) -> Option<u32> {
    match paging {
        Paging::Page { size, .. } => *size,
        Paging::Offset { size, .. } => Some(*size),
        _ => None,
    }
}

/// The next page size to try after passes disagreed, if the paging allows a bigger one.
pub fn grown(paging: &Paging, size: Option<u32>) -> Option<u32> {
    let max = match paging {
        Paging::Page {
            max_size: Some(m), ..
        }
        | Paging::Offset {
            max_size: Some(m), ..
        } => *m,
        _ => return None,
    };
    let size = size?;
    (size < max).then(|| size.saturating_mul(2).min(max))
}

/// The URL of page `index` (from 0): the first URL with the paging's parameters.
pub fn paged(
    first: &Url,
    paging: &Paging,
    index: u32,
    size: Option<u32>,
    cursor: Option<&str>,
) -> Url {
    let mut url = first.clone();
    let size_pair = |url: &mut Url, param: &Option<String>| {
        if let (Some(p), Some(s)) = (param, size) {
            url.query_pairs_mut().append_pair(p, &s.to_string());
        }
    };
    match paging {
        Paging::Page {
            param,
            first: first_page,
            size_param,
            ..
        } => {
            let page = first_page.saturating_add(u64::from(index));
            url.query_pairs_mut().append_pair(param, &page.to_string());
            size_pair(&mut url, size_param);
        }
        Paging::Offset {
            param, size_param, ..
        } => {
            let offset = u64::from(index) * u64::from(size.unwrap_or(0));
            url.query_pairs_mut()
                .append_pair(param, &offset.to_string());
            size_pair(&mut url, size_param);
        }
        Paging::Cursor { param, .. } => {
            if let Some(c) = cursor {
                url.query_pairs_mut().append_pair(param, c);
            }
        }
        Paging::None | Paging::Link | Paging::NextUrl { .. } => {}
    }
    url
}

/// The array at `pointer` (the body itself for an empty pointer); `null` is an empty list.
pub fn list_of<'a>(body: &'a Value, pointer: &str) -> Option<&'a [Value]> {
    match body.pointer(pointer)? {
        Value::Array(items) => Some(items),
        Value::Null => Some(&[]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pages_carry_their_paging_parameters() {
        let first = Url::parse("https://a.example.com/x?since=1").unwrap();
        let page = Paging::Page {
            param: "page".into(),
            first: 1,
            size_param: Some("per_page".into()),
            size: Some(50),
            max_size: None,
        };
        assert_eq!(
            paged(&first, &page, 2, Some(50), None).as_str(),
            "https://a.example.com/x?since=1&page=3&per_page=50"
        );
        let offset = Paging::Offset {
            param: "startIndex".into(),
            size_param: Some("count".into()),
            size: 25,
            max_size: Some(100),
        };
        assert_eq!(
            paged(&first, &offset, 2, Some(25), None).as_str(),
            "https://a.example.com/x?since=1&startIndex=50&count=25"
        );
        assert_eq!(grown(&offset, Some(25)), Some(50));
        assert_eq!(grown(&offset, Some(80)), Some(100));
        assert_eq!(grown(&offset, Some(100)), None);
        let cursor = Paging::Cursor {
            param: "after".into(),
            field: "/next".into(),
        };
        assert_eq!(
            paged(&first, &cursor, 1, None, Some("a b")).as_str(),
            "https://a.example.com/x?since=1&after=a+b"
        );
    }

    #[test]
    fn the_list_is_found_at_its_pointer() {
        let body = serde_json::json!({"data": {"items": [1, 2]}, "none": null, "n": 3});
        assert_eq!(list_of(&body, "/data/items").unwrap().len(), 2);
        assert_eq!(list_of(&body, "/none").unwrap().len(), 0);
        assert!(list_of(&body, "/n").is_none());
        assert!(list_of(&body, "").is_none());
        assert_eq!(list_of(&serde_json::json!([1]), "").unwrap().len(), 1);
    }
}
