//! Contact handles: how a buyer is reached and recognised. Handles are normalised before
//! they are stored or looked up, so "+86 138-0013-8000" and "13800138000" are one buyer.

use crate::db::text_enum;
use validator::ValidateEmail;

text_enum! {
    pub enum ContactKind {
        Phone = "phone",
        /// WeChat ID.
        Wechat = "wechat",
        /// Account name on the shop platform, such as a Taobao nickname.
        ShopAccount = "shop_account",
        Email = "email",
    }
}

const MAX_HANDLE_CHARS: usize = 64;

/// The stored form of a handle, or why it is not a valid one.
pub fn normalize(kind: ContactKind, raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_HANDLE_CHARS {
        return Err(format!("must be at most {MAX_HANDLE_CHARS} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match kind {
        ContactKind::Phone => normalize_phone(trimmed),
        ContactKind::Email => {
            let email = trimmed.to_lowercase();
            if email.validate_email() {
                Ok(email)
            } else {
                Err("must be a valid email address".into())
            }
        }
        ContactKind::Wechat => {
            if trimmed.chars().any(char::is_whitespace) {
                Err("a WeChat ID has no spaces".into())
            } else {
                // WeChat IDs are matched without regard to case.
                Ok(trimmed.to_lowercase())
            }
        }
        ContactKind::ShopAccount => Ok(trimmed.to_owned()),
    }
}

/// Digits only, with a leading `+` for international numbers. Mainland numbers written
/// with the country code (+86, 0086) are stored without it: that is how buyers give them.
fn normalize_phone(raw: &str) -> Result<String, String> {
    let international = raw.starts_with('+');
    let mut digits = String::with_capacity(raw.len());
    for (i, c) in raw.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => {
                return Err(
                    "may contain only digits, spaces, dashes, brackets and a leading +".into(),
                );
            }
        }
    }
    let mainland_mobile = |d: &str| d.len() == 11 && d.starts_with('1');
    let digits = match digits.as_str() {
        d if international && d.starts_with("86") && mainland_mobile(&d[2..]) => d[2..].to_owned(),
        d if !international && d.starts_with("0086") && mainland_mobile(&d[4..]) => {
            d[4..].to_owned()
        }
        d if international => format!("+{d}"),
        d => d.to_owned(),
    };
    let count = digits.trim_start_matches('+').len();
    if !(5..=20).contains(&count) {
        return Err("must have between 5 and 20 digits".into());
    }
    if mainland_mobile(&digits) && !matches!(digits.as_bytes()[1], b'3'..=b'9') {
        return Err("is not a valid mainland mobile number".into());
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_any_notation_are_one_buyer() {
        for raw in [
            "13800138000",
            "138 0013 8000",
            "+86 138-0013-8000",
            "0086 13800138000",
            "(138)00138000",
        ] {
            assert_eq!(
                normalize(ContactKind::Phone, raw).unwrap(),
                "13800138000",
                "{raw}"
            );
        }
        assert_eq!(
            normalize(ContactKind::Phone, "+1 (415) 555-0100").unwrap(),
            "+14155550100"
        );
        assert_eq!(
            normalize(ContactKind::Phone, "021-6123 4567").unwrap(),
            "02161234567"
        );
    }

    #[test]
    fn bad_phone_numbers_are_refused() {
        for raw in [
            "",
            "12",
            "138001380001380013800138",
            "phone: 138",
            "12800138000",
            "1+3800138000",
        ] {
            assert!(normalize(ContactKind::Phone, raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn emails_and_wechat_ids_ignore_case() {
        assert_eq!(
            normalize(ContactKind::Email, " Li.Na@Example.COM ").unwrap(),
            "li.na@example.com"
        );
        assert!(normalize(ContactKind::Email, "li.na@").is_err());
        assert_eq!(
            normalize(ContactKind::Wechat, "LiNa_88").unwrap(),
            "lina_88"
        );
        assert!(normalize(ContactKind::Wechat, "li na").is_err());
    }

    #[test]
    fn shop_accounts_keep_chinese_text() {
        assert_eq!(
            normalize(ContactKind::ShopAccount, " 小明的店铺 ").unwrap(),
            "小明的店铺"
        );
        assert!(normalize(ContactKind::ShopAccount, &"长".repeat(65)).is_err());
        assert!(normalize(ContactKind::ShopAccount, "a\u{0}b").is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for kind in ContactKind::ALL {
            assert_eq!(ContactKind::parse(kind.as_str()), Some(kind));
        }
    }
}
