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

crate::contract::documented_as!(super::ContactHandle => ContactHandleByKind);

/// A contact handle: what `value` may be depends on `kind` (`PhoneHandle`, `WechatHandle`,
/// `ShopAccountHandle`, `EmailHandle`). Values are normalised before they are stored or
/// compared, so `+86 138-0013-8000`, full-width `１３８００１３８０００` and `13800138000`
/// are one buyer.
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = ContactHandle, discriminator(property_name = "kind", mapping(
    ("phone" = "#/components/schemas/PhoneHandle"),
    ("wechat" = "#/components/schemas/WechatHandle"),
    ("shop_account" = "#/components/schemas/ShopAccountHandle"),
    ("email" = "#/components/schemas/EmailHandle"),
)))]
enum ContactHandleByKind {
    Phone(PhoneHandle),
    Wechat(WechatHandle),
    ShopAccount(ShopAccountHandle),
    Email(EmailHandle),
}

crate::contract::kind_tag!(PhoneKind = "phone");
crate::contract::kind_tag!(WechatKind = "wechat");
crate::contract::kind_tag!(ShopAccountKind = "shop_account");
crate::contract::kind_tag!(EmailKind = "email");

/// A phone number (`normalize_phone`): a mainland mobile (11 digits, 13 to 19), a landline
/// with its area code, a 400/800 number, or an international number in E.164 (`+852 9123
/// 4567`). Spaces, dashes, brackets and full-width digits are accepted and taken out; the
/// stored form is digits only (mainland numbers without +86), with a leading `+` for
/// other countries.
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "phone", "value": "13800138000"}))]
struct PhoneHandle {
    #[schema(inline)]
    kind: PhoneKind,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^\\s*[+＋]?[0-9０-９ ()（）.．‐-―−－　\u{00A0}-]+\\s*$"
    )]
    value: String,
}

/// A WeChat ID (no spaces inside; matched without regard to case, stored lower-cased).
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "wechat", "value": "lina_1990"}))]
struct WechatHandle {
    #[schema(inline)]
    kind: WechatKind,
    #[schema(min_length = 1, max_length = 64, pattern = "^\\s*\\S+\\s*$")]
    value: String,
}

/// An account name on the shop platform, such as a Taobao nickname (kept as written).
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "shop_account", "value": "lina的小店"}))]
struct ShopAccountHandle {
    #[schema(inline)]
    kind: ShopAccountKind,
    #[schema(min_length = 1, max_length = 64)]
    value: String,
}

/// An email address (stored lower-cased).
#[allow(dead_code)]
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "email", "value": "lina@example.com"}))]
struct EmailHandle {
    #[schema(inline)]
    kind: EmailKind,
    #[schema(min_length = 1, max_length = 64, format = "email")]
    value: String,
}

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

/// Full-width forms (typed with a Chinese input method) and dash variants, as ASCII.
fn ascii_form(c: char) -> char {
    match c {
        '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
        '\u{FF0B}' => '+',
        '\u{FF08}' => '(',
        '\u{FF09}' => ')',
        '\u{FF0D}' | '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{3000}' | '\u{00A0}' => ' ',
        '\u{FF0E}' => '.',
        other => other,
    }
}

/// Digits only, with a leading `+` for international numbers (E.164). Mainland numbers
/// written with the country code (+86, 0086) are stored without it: that is how buyers give
/// them. A mainland mobile is 11 digits, `1` then `3`-`9`; a landline with its area code
/// starts with `0` (10 to 12 digits); a local landline is 7 or 8 digits; 400/800 service
/// numbers are 10.
fn normalize_phone(raw: &str) -> Result<String, String> {
    let raw: String = raw.chars().map(ascii_form).collect();
    let international = raw.starts_with('+');
    let mut digits = String::with_capacity(raw.len());
    for (i, c) in raw.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => {
                return Err(
                    "may contain only digits, spaces, dashes, brackets and a leading +, e.g. 138 0013 8000 or +852 9123 4567".into(),
                );
            }
        }
    }
    let national = match digits.as_str() {
        d if international && d.starts_with("86") => mainland(&d[2..]),
        d if !international && d.starts_with("0086") => mainland(&d[4..]),
        _ if international => {
            // E.164: a country code (never starting with 0) and at most 15 digits in all.
            if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
                return Err(
                    "an international number has a country code and 8 to 15 digits, e.g. +852 9123 4567"
                        .into(),
                );
            }
            return Ok(format!("+{digits}"));
        }
        d => d.to_owned(),
    };
    let valid = match national.as_bytes() {
        [b'1', second, ..] => national.len() == 11 && matches!(second, b'3'..=b'9'),
        [b'0', ..] => (10..=12).contains(&national.len()),
        [b'4' | b'8', b'0', b'0', ..] if national.len() == 10 => true,
        _ => (7..=8).contains(&national.len()),
    };
    if !valid {
        return Err(if national.starts_with('1') {
            "is not a mainland mobile number: 11 digits starting 13 to 19, e.g. 13800138000".into()
        } else {
            "is not a phone number: a mobile has 11 digits (13800138000), a landline its area code and 7 or 8 digits (021-6123 4567)".into()
        });
    }
    Ok(national)
}

/// A mainland number after the country code: a landline drops its area code's leading 0
/// there (+86 21 6123 4567), and gets it back.
fn mainland(after_country_code: &str) -> String {
    match after_country_code.as_bytes().first() {
        Some(b'0' | b'1') | None => after_country_code.to_owned(),
        Some(_) => format!("0{after_country_code}"),
    }
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
        // Typed with a Chinese input method: full-width digits, plus and dashes.
        for raw in [
            "１３８００１３８０００",
            "＋８６ １３８－００１３－８０００",
            "138\u{3000}0013\u{3000}8000",
        ] {
            assert_eq!(
                normalize(ContactKind::Phone, raw).unwrap(),
                "13800138000",
                "{raw}"
            );
        }
        assert_eq!(
            normalize(ContactKind::Phone, "+852 9123 4567").unwrap(),
            "+85291234567"
        );
        assert_eq!(
            normalize(ContactKind::Phone, "+86 21 6123 4567").unwrap(),
            "02161234567"
        );
        assert_eq!(
            normalize(ContactKind::Phone, "400-800-8888").unwrap(),
            "4008008888"
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
            // A mobile with a digit missing, or one too many.
            "1380013800",
            "138001380001",
            "+86 1380013800",
            // Not E.164: too short, too long.
            "+1234",
            "+1234567890123456",
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
