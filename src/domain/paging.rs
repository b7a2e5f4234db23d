//! List paging: bounded page sizes and opaque page tokens, plus idempotency request ids.
//!
//! A page token carries the key of the last item returned and a fingerprint of the query it
//! belongs to, so that a token is refused when replayed against a different query.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::{Problem, Violations};

/// Page size used when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page; larger requests are lowered to it (AIP-158).
pub const MAX_PAGE_SIZE: u64 = 500;

/// Parses a requested page size: 0 means the default, negative is refused, large is capped.
pub fn page_size(requested: i32) -> Result<u64, Violations> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Violations::one_as(
            Problem::NumberOutOfRange,
            "page_size",
            format!("must not be negative, got {n}"),
        )),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// The refusal of a page token this list did not make (the token is not echoed: it is opaque
/// and may be long).
pub fn not_a_page_token() -> Violations {
    Violations::one_as(
        Problem::BadPageToken,
        "page_token",
        "is not a page token of this list",
    )
}

/// Where the next page starts: after the item with key `after`, for the query `query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    /// Fingerprint of the query (its filters), see [`query_fingerprint`].
    pub query: u64,
    /// Sort key of the last item of the previous page.
    pub after: String,
}

const TOKEN_VERSION: &str = "p1";

impl PageToken {
    /// The opaque string form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{TOKEN_VERSION}:{:016x}:{}",
            self.query, self.after
        ))
    }

    /// Parses a page token for `query`; empty means the first page (`None`).
    pub fn decode(token: &str, query: u64) -> Result<Option<PageToken>, Violations> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = not_a_page_token;
        if token.len() > 512 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(3, ':');
        let (Some(TOKEN_VERSION), Some(fingerprint), Some(after)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let fingerprint = u64::from_str_radix(fingerprint, 16).map_err(|_| invalid())?;
        if fingerprint != query {
            return Err(Violations::one_as(
                Problem::BadPageToken,
                "page_token",
                "belongs to a list with other filters; send the same filters as the first page",
            ));
        }
        if after.is_empty() {
            return Err(invalid());
        }
        Ok(Some(PageToken {
            query,
            after: after.to_string(),
        }))
    }
}

/// A stable fingerprint of a list query: its name and filter values.
pub fn query_fingerprint(parts: &[&str]) -> u64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// A caller's idempotency key: 1 to 128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Parses an optional request id: empty means none.
    pub fn parse(value: &str) -> Result<Option<RequestId>, Violations> {
        if value.is_empty() {
            return Ok(None);
        }
        if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Violations::one_as(
                Problem::BadText,
                "request_id",
                "must be at most 128 printable ASCII characters (a UUID is typical)",
            ));
        }
        Ok(Some(RequestId(value.to_string())))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a list read whole (a short one: the exchange-rate table, a period's snapshots),
/// ordered by `key`: the items after `after`, at most `limit`, and the key of the page's last
/// item when more remain (`None` on the last page). Carried in the page token, the key keeps a
/// page right when items are added before it.
pub fn page_by_key<T>(
    mut items: Vec<T>,
    after: Option<&str>,
    limit: u64,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    items.sort_by_cached_key(&key);
    let start = after.map_or(0, |after| {
        items.partition_point(|item| key(item).as_str() <= after)
    });
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len().saturating_sub(start) > limit;
    let page: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let continue_after = if more { page.last().map(&key) } else { None };
    (page, continue_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn page_size_zero_is_the_default_and_large_sizes_are_capped() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(i32::MAX).unwrap(), MAX_PAGE_SIZE);
        assert_eq!(page_size(-1).unwrap_err().0[0].field, "page_size");
    }

    #[test]
    fn an_empty_token_is_the_first_page() {
        assert_eq!(PageToken::decode("", 1).unwrap(), None);
    }

    #[test]
    fn a_token_for_another_query_is_refused() {
        let token = PageToken {
            query: 1,
            after: "k".into(),
        }
        .encode();
        let err = PageToken::decode(&token, 2).unwrap_err();
        assert_eq!(err.0[0].field, "page_token");
    }

    #[test]
    fn garbage_tokens_are_refused() {
        for token in [
            "!!!",
            "cDE6",
            "x".repeat(600).as_str(),
            "cDE6enp6enp6enp6enp6ejphYmM",
        ] {
            assert!(PageToken::decode(token, 1).is_err(), "{token} accepted");
        }
    }

    #[test]
    fn fingerprints_differ_when_filters_differ() {
        assert_ne!(
            query_fingerprint(&["users", "a"]),
            query_fingerprint(&["users", "b"])
        );
        assert_ne!(
            query_fingerprint(&["ab", ""]),
            query_fingerprint(&["a", "b"])
        );
    }

    #[test]
    fn request_ids_must_be_printable_ascii() {
        assert_eq!(RequestId::parse("").unwrap(), None);
        assert!(RequestId::parse("3f2c-11").unwrap().is_some());
        assert!(RequestId::parse("has space").is_err());
        assert!(RequestId::parse("é").is_err());
        assert!(RequestId::parse(&"a".repeat(129)).is_err());
    }

    proptest! {
        #[test]
        fn tokens_round_trip(query in any::<u64>(), after in "[ -~]{1,100}") {
            let token = PageToken { query, after };
            prop_assert_eq!(PageToken::decode(&token.encode(), query).unwrap(), Some(token));
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,200}", query in any::<u64>()) {
            let _ = PageToken::decode(&text, query);
        }
    }

    #[test]
    fn a_list_read_whole_pages_by_key_and_says_where_to_continue() {
        let key = |n: &u32| format!("{n:03}");
        let (first, after) = page_by_key(vec![5, 1, 4, 2, 3], None, 2, key);
        assert_eq!((first, after.as_deref()), (vec![1, 2], Some("002")));
        let (second, after) = page_by_key(vec![5, 1, 4, 2, 3], Some("002"), 2, key);
        assert_eq!((second, after.as_deref()), (vec![3, 4], Some("004")));
        // The last page, even when full, says nothing more remains.
        let (last, after) = page_by_key(vec![5, 1, 4, 2, 3], Some("004"), 1, key);
        assert_eq!((last, after), (vec![5], None));
        assert_eq!(page_by_key(vec![1], Some("009"), 2, key), (vec![], None));
    }
}
