//! Page tokens: where the next page starts, signed together with the filter they were issued for.
//!
//! A token is the store's cursor followed by an HMAC-SHA256 tag (truncated to 128 bits) over the
//! cursor and the year filter, keyed with the store's secret, in URL-safe base64. So a token used
//! with other filters, altered, or never issued is recognized and refused, and any server sharing
//! the store accepts the tokens of the others.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{Cursor, YearFilter};

const TAG_BYTES: usize = 16;
const TOKEN_BYTES: usize = 8 + TAG_BYTES;
/// Distinguishes this token format from any later one: a tag of another version never verifies.
const VERSION: &[u8] = b"prog-lang-api page token v1";

/// The token for the page after `cursor`, valid only with `filter`.
pub(crate) fn issue(key: &[u8], cursor: Cursor, filter: YearFilter) -> String {
    let mut token = [0; TOKEN_BYTES];
    token[..8].copy_from_slice(&cursor.0.to_be_bytes());
    let tag = mac(key, cursor, filter).finalize().into_bytes();
    token[8..].copy_from_slice(&tag[..TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(token)
}

/// The cursor `token` stands for, if this store issued it for `filter`.
pub(crate) fn redeem(key: &[u8], token: &str, filter: YearFilter) -> Option<Cursor> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let bytes: [u8; TOKEN_BYTES] = bytes.try_into().ok()?;
    let cursor = Cursor(u64::from_be_bytes(bytes[..8].try_into().ok()?));
    mac(key, cursor, filter)
        .verify_truncated_left(&bytes[8..])
        .ok()?;
    Some(cursor)
}

fn mac(key: &[u8], cursor: Cursor, filter: YearFilter) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(VERSION);
    mac.update(&cursor.0.to_be_bytes());
    for bound in [filter.after, filter.before] {
        match bound {
            Some(year) => {
                mac.update(&[1]);
                mac.update(&year.to_be_bytes());
            }
            None => mac.update(&[0; 5]),
        }
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a test key";

    fn filter(after: Option<i32>, before: Option<i32>) -> YearFilter {
        YearFilter { after, before }
    }

    #[test]
    fn a_token_redeems_to_its_cursor_with_its_filter_only() {
        let issued = filter(Some(1960), None);
        let token = issue(KEY, Cursor(42), issued);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(redeem(KEY, &token, issued), Some(Cursor(42)));
        assert_eq!(redeem(KEY, &token, filter(None, None)), None);
        assert_eq!(redeem(KEY, &token, filter(Some(1960), Some(2000))), None);
        assert_eq!(redeem(KEY, &token, filter(None, Some(1960))), None);
        assert_eq!(redeem(b"another key", &token, issued), None);
    }

    #[test]
    fn altered_or_invented_tokens_are_refused() {
        let token = issue(KEY, Cursor(7), filter(None, None));
        let mut altered = token.clone().into_bytes();
        altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        for bad in [
            altered.as_str(),
            "",
            "abc",
            "!!!!",
            &token[1..],
            &format!("{token}A"),
        ] {
            assert_eq!(redeem(KEY, bad, filter(None, None)), None, "{bad}");
        }
    }
}
