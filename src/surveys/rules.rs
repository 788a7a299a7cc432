//! The survey's rules as plain functions: link tokens and their hashes, where links point,
//! a survey's status, the message staff paste, how the buyer is greeted and what the
//! ticket was about, the page's language, the form's own key and origin check, and reading
//! the submitted form. Unit-tested here, without HTTP or a database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Survey, SurveyStatus};
use crate::tickets::{SatisfactionReason, TicketKind};

/// Length of a link token: 32 bytes, base64url without padding.
pub const TOKEN_CHARS: usize = 43;
/// How long a rendered form may be submitted (a buyer who leaves the page open for lunch
/// still gets through; an old copy of the page does not).
pub const FORM_KEY_HOURS: i64 = 12;
/// Longest comment, as for a staff entry.
pub const MAX_COMMENT_CHARS: usize = 2000;

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    for part in parts {
        mac.update(part);
        // A separator that no part contains (parts are base64url, hex or digits).
        mac.update(b"|");
    }
    mac.finalize().into_bytes().into()
}

/// A new random nonce (32 bytes, base64url): what a survey's token is derived from.
pub fn new_nonce() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The link token of a survey: 32 bytes derived from its nonce under the servers' key,
/// base64url (43 characters).
pub fn token_for(link_key: &[u8; 32], nonce: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(link_key, &[b"token", nonce.as_bytes()]))
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a path segment could be a token at all (so that junk is refused before any
/// database work).
pub fn is_token_shaped(text: &str) -> bool {
    text.len() == TOKEN_CHARS
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where links point: `PUBLIC_BASE_URL`, or the address the server listens on.
pub fn base_url(public: Option<&str>, bind_addr: &str) -> String {
    match public {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("http://{}", bind_addr.trim_end_matches('/')),
    }
}

pub fn survey_url(base: &str, token: &str) -> String {
    format!("{base}/s/{token}")
}

/// A survey's status at `now`: an answer stands whatever happens later; a withdrawn survey
/// stays withdrawn; otherwise it is pending until it expires.
pub fn status(survey: &Survey, now: NaiveDateTime) -> SurveyStatus {
    if survey.answered_at.is_some() {
        SurveyStatus::Answered
    } else if survey.withdrawn_at.is_some() {
        SurveyStatus::Withdrawn
    } else if now >= survey.expires_at {
        SurveyStatus::Expired
    } else {
        SurveyStatus::Pending
    }
}

/// The message staff paste into WeChat or an SMS: the buyer's first name, the shop, the
/// link and how long it lasts, in Chinese.
pub fn message(shop_name: &str, first_name: &str, url: &str, ttl_days: i64) -> String {
    let greeting = if first_name.is_empty() {
        "您好！".to_owned()
    } else {
        format!("{first_name}您好！")
    };
    format!(
        "{greeting}感谢您对{shop_name}的耐心。您的问题已处理完毕，请花几秒钟为我们的服务打分：{url}（{ttl_days}天内有效）"
    )
}

/// Two-character Chinese family names (so that 欧阳娜娜 is greeted as 娜娜).
const COMPOUND_SURNAMES: [&str; 16] = [
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "夏侯", "尉迟", "公孙", "长孙",
    "宇文", "司徒", "独孤", "端木",
];
/// Forms of address a shop writes after the family name (王小姐): that is how the shop
/// addresses the buyer, and no more personal than the family name.
const HONORIFICS: [&str; 6] = ["小姐", "先生", "女士", "老师", "阿姨", "同学"];

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// How the page and the message greet the buyer: their own first name and nothing else
/// of the customer file. A Latin name gives its first word (`Anna` of `Anna Schmidt`); a
/// Chinese name its given name (`静` of `王静`), or the name as the shop writes it when it
/// is a family name with a form of address (`王小姐`); a nickname stays as it is. At most
/// 20 characters.
pub fn first_name(name: &str) -> String {
    let name = name.trim();
    let chosen: String = if name.chars().all(is_han) && !name.is_empty() {
        if HONORIFICS.iter().any(|h| name.ends_with(h)) || name.chars().count() <= 1 {
            name.to_owned()
        } else {
            let surname = COMPOUND_SURNAMES
                .iter()
                .find(|s| name.starts_with(*s) && name.chars().count() > 2)
                .map_or(1, |s| s.chars().count());
            name.chars().skip(surname).collect()
        }
    } else {
        name.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    chosen
        .chars()
        .filter(|c| !c.is_control())
        .take(20)
        .collect()
}

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// Chinese unless the switch (`?lang=en`, or the form's `lang`) says English, or,
    /// without a switch, the browser prefers English to Chinese (`Accept-Language`, by
    /// q-value; the first listed wins ties).
    pub fn choose(switch: Option<&str>, accept_language: Option<&str>) -> Lang {
        match switch {
            Some("en") => return Lang::En,
            Some("zh") => return Lang::Zh,
            _ => {}
        }
        let mut best: Option<(f32, Lang)> = None;
        for range in accept_language.unwrap_or_default().split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, lang)| lang)
    }
}

fn platform_name(platform: &str, lang: Lang) -> &str {
    let zh = match platform {
        "taobao" => "淘宝",
        "tmall" => "天猫",
        "jd" => "京东",
        "pinduoduo" => "拼多多",
        "douyin" => "抖音",
        "kuaishou" => "快手",
        "xiaohongshu" => "小红书",
        "dianping" => "大众点评",
        "wechat" => "微信",
        "store" => "门店",
        _ => "",
    };
    match lang {
        Lang::Zh if !zh.is_empty() => zh,
        _ => platform,
    }
}

/// What the ticket was about, in one line and without personal data: its kind, and the
/// product or platform from its details (never the title, the review's text or notes,
/// which staff and buyers write freely).
pub fn about_line(kind: TicketKind, details: &Value, lang: Lang) -> String {
    let product: String = details["items"][0]["product_name"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect();
    match (kind, lang) {
        (TicketKind::NegativeReview, _) => {
            let platform = platform_name(details["platform"].as_str().unwrap_or_default(), lang);
            match lang {
                Lang::Zh => format!("您在{platform}上的评价"),
                Lang::En => format!("Your review on {platform}"),
            }
        }
        (TicketKind::Return, Lang::Zh) if !product.is_empty() => format!("退换货：{product}"),
        (TicketKind::Return, Lang::Zh) => "您的退换货".into(),
        (TicketKind::Return, Lang::En) if !product.is_empty() => {
            format!("Return or exchange: {product}")
        }
        (TicketKind::Return, Lang::En) => "Your return or exchange".into(),
        (TicketKind::Repair, Lang::Zh) if !product.is_empty() => format!("维修：{product}"),
        (TicketKind::Repair, Lang::Zh) => "您的维修".into(),
        (TicketKind::Repair, Lang::En) if !product.is_empty() => format!("Repair: {product}"),
        (TicketKind::Repair, Lang::En) => "Your repair".into(),
    }
}

/// The form's own key: when the page was rendered and a MAC of that time and the survey,
/// so that only a page this service rendered for this link can be submitted (with the
/// origin check, the form's protection against cross-site submission; no cookie needed).
pub fn form_key(link_key: &[u8; 32], token_hash: &str, issued_at: i64) -> String {
    let issued = issued_at.to_string();
    let tag = mac(
        link_key,
        &[b"form", token_hash.as_bytes(), issued.as_bytes()],
    );
    format!("{issued}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Whether `key` is a form key this service issued for the survey within the last
/// [`FORM_KEY_HOURS`] (a minute's clock drift between replicas allowed).
pub fn form_key_valid(link_key: &[u8; 32], token_hash: &str, key: &str, now: i64) -> bool {
    let Some((issued, _)) = key.split_once('.') else {
        return false;
    };
    let Ok(issued_at) = issued.parse::<i64>() else {
        return false;
    };
    let fresh = issued_at <= now + 60 && now - issued_at <= FORM_KEY_HOURS * 3600;
    let expected = form_key(link_key, token_hash, issued_at);
    // Constant-time comparison of the MAC.
    let same = expected.len() == key.len()
        && expected
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    fresh && same
}

/// `scheme://host[:port]` of an address (default ports dropped), for comparing origins.
fn origin_of(address: &str) -> Option<String> {
    let url = url::Url::parse(address).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Whether a form submission comes from the service's own page: a browser that says where
/// the request comes from (`Sec-Fetch-Site`, `Origin`) must name this site, the address
/// the request was sent to (`Host`) or `PUBLIC_BASE_URL`. Under the page's
/// `Referrer-Policy: no-referrer` browsers send `Origin: null` with the form; that is
/// believed only next to `Sec-Fetch-Site: same-origin` (a header pages cannot forge). A
/// client that says nothing (an old browser, curl) is let through: the form key still has
/// to be right.
pub fn same_site(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
    base_url: &str,
) -> bool {
    if let Some(site) = sec_fetch_site
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = origin else {
        return true;
    };
    if origin.trim() == "null" {
        return sec_fetch_site == Some("same-origin");
    }
    let Some(origin) = origin_of(origin) else {
        return false;
    };
    let ours = origin_of(base_url);
    let hosts = host.into_iter().flat_map(|h| {
        [
            origin_of(&format!("http://{h}")),
            origin_of(&format!("https://{h}")),
        ]
    });
    std::iter::once(ours)
        .chain(hosts)
        .flatten()
        .any(|o| o == origin)
}

/// A submitted answer, read from the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormAnswer {
    pub score: Option<i32>,
    pub reasons: Vec<SatisfactionReason>,
    pub comment: Option<String>,
    pub form_key: String,
    pub lang: Option<String>,
}

/// What is wrong with a submitted answer, for the page to say next to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    /// No score, or one outside 1 to 5.
    Score,
    /// A comment longer than [`MAX_COMMENT_CHARS`], or with control characters.
    Comment,
    /// A reason the page does not offer.
    Reasons,
}

/// Reads `score`, `reasons` (repeated), `comment`, `form_key` and `lang` from a form body.
/// Unknown fields are ignored (a browser extension may add some); a reason named twice
/// counts once.
pub fn read_form(body: &[u8]) -> (FormAnswer, Vec<FormProblem>) {
    let mut answer = FormAnswer {
        score: None,
        reasons: Vec::new(),
        comment: None,
        form_key: String::new(),
        lang: None,
    };
    let mut problems = Vec::new();
    let mut score_seen = false;
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "score" => {
                score_seen = true;
                answer.score = value.trim().parse().ok().filter(|s| (1..=5).contains(s));
            }
            "reasons" => match SatisfactionReason::parse(value.trim()) {
                Some(reason) if !answer.reasons.contains(&reason) => answer.reasons.push(reason),
                Some(_) => {}
                None => problems.push(FormProblem::Reasons),
            },
            "comment" => {
                // Browsers send textarea line breaks as CR LF.
                let text = value.replace("\r\n", "\n");
                let text = text.trim();
                if text.chars().count() > MAX_COMMENT_CHARS
                    || text
                        .chars()
                        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
                {
                    problems.push(FormProblem::Comment);
                } else if !text.is_empty() {
                    answer.comment = Some(text.to_owned());
                }
            }
            "form_key" => answer.form_key = value.into_owned(),
            "lang" => answer.lang = Some(value.into_owned()),
            _ => {}
        }
    }
    if answer.score.is_none() || !score_seen {
        problems.push(FormProblem::Score);
    }
    problems.dedup();
    (answer, problems)
}

/// The rate limit's rule, the login throttle's: at most `max` requests within `window`,
/// else how many seconds until the oldest that keeps the count at the limit leaves it.
pub fn rate_wait(
    newest_first: &[NaiveDateTime],
    max: i64,
    window: Duration,
    now: NaiveDateTime,
) -> Option<u64> {
    crate::auth::throttle::limit_wait(newest_first, max, window, now).map(|wait| {
        u64::try_from((wait + Duration::milliseconds(999)).num_seconds())
            .unwrap_or(1)
            .max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ShopId;
    use serde_json::json;

    const KEY: [u8; 32] = [7; 32];

    fn at(hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn survey() -> Survey {
        Survey {
            id: 1,
            shop_id: ShopId(1),
            ticket_id: 1,
            token_hash: String::new(),
            nonce: new_nonce(),
            created_at: at(8),
            expires_at: at(20),
            answered_at: None,
            score: None,
            reasons: None,
            comment: None,
            nudged_at: None,
            withdrawn_at: None,
        }
    }

    #[test]
    fn tokens_are_derived_from_the_nonce_and_key_and_only_their_hash_is_kept() {
        let nonce = new_nonce();
        assert_eq!(nonce.len(), TOKEN_CHARS);
        assert_ne!(nonce, new_nonce(), "nonces are random");
        let token = token_for(&KEY, &nonce);
        assert!(is_token_shaped(&token), "{token}");
        assert_eq!(token, token_for(&KEY, &nonce), "the same link every time");
        assert_ne!(
            token,
            token_for(&[8; 32], &nonce),
            "another key, another link"
        );
        assert_ne!(token, nonce);
        let hash = token_hash(&token);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
        for junk in [
            "",
            "abc",
            &"a".repeat(42),
            &"a".repeat(44),
            &format!("{}!", &token[1..]),
        ] {
            assert!(!is_token_shaped(junk), "{junk}");
        }
    }

    #[test]
    fn links_start_with_the_public_address_or_the_bind_address() {
        assert_eq!(base_url(None, "127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            base_url(Some("https://shop.example/"), "127.0.0.1:8080"),
            "https://shop.example"
        );
        assert_eq!(
            survey_url("https://shop.example", "tok"),
            "https://shop.example/s/tok"
        );
        assert_eq!(
            super::super::parse_base_url("https://shop.example/").as_deref(),
            Ok("https://shop.example")
        );
        for bad in ["ftp://x", "shop.example", "https://u:p@x", "https://x/?a=1"] {
            assert!(super::super::parse_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_answered_beats_withdrawn_beats_expired() {
        let mut s = survey();
        assert_eq!(status(&s, at(19)), SurveyStatus::Pending);
        assert_eq!(status(&s, at(20)), SurveyStatus::Expired);
        s.withdrawn_at = Some(at(10));
        assert_eq!(status(&s, at(11)), SurveyStatus::Withdrawn);
        assert_eq!(status(&s, at(21)), SurveyStatus::Withdrawn);
        s.answered_at = Some(at(9));
        assert_eq!(status(&s, at(21)), SurveyStatus::Answered);
    }

    #[test]
    fn the_message_greets_by_first_name_and_carries_the_link() {
        let m = message("小店", "静", "https://s.example/s/x", 14);
        assert_eq!(
            m,
            "静您好！感谢您对小店的耐心。您的问题已处理完毕，请花几秒钟为我们的服务打分：https://s.example/s/x（14天内有效）"
        );
        assert!(message("小店", "", "u", 3).starts_with("您好！"));
    }

    #[test]
    fn only_the_first_name_is_shown() {
        for (name, first) in [
            ("王静", "静"),
            ("王小姐", "王小姐"),
            ("李先生", "李先生"),
            ("欧阳娜娜", "娜娜"),
            ("欧阳", "阳"),
            ("张", "张"),
            ("Anna Schmidt", "Anna"),
            ("  tb_12345 ", "tb_12345"),
            ("小猫咪 13800138000", "小猫咪"),
            ("", ""),
        ] {
            assert_eq!(first_name(name), first, "{name}");
        }
        assert_eq!(first_name(&"x".repeat(50)).chars().count(), 20);
    }

    #[test]
    fn chinese_unless_english_is_asked_for() {
        assert_eq!(Lang::choose(None, None), Lang::Zh);
        assert_eq!(Lang::choose(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::choose(None, Some("zh-CN,zh;q=0.9,en;q=0.8")),
            Lang::Zh
        );
        assert_eq!(Lang::choose(None, Some("en;q=0.5,zh-TW;q=0.8")), Lang::Zh);
        assert_eq!(Lang::choose(None, Some("de-DE,en;q=0.7")), Lang::En);
        assert_eq!(Lang::choose(None, Some("de-DE,fr")), Lang::Zh);
        assert_eq!(Lang::choose(None, Some("en;q=0")), Lang::Zh);
        assert_eq!(Lang::choose(Some("zh"), Some("en-US")), Lang::Zh);
        assert_eq!(Lang::choose(Some("en"), None), Lang::En);
        assert_eq!(Lang::choose(Some("xx"), Some("en")), Lang::En);
    }

    #[test]
    fn the_about_line_names_kind_and_product_only() {
        let review =
            json!({"platform": "taobao", "rating": 2, "review_text": "王小姐 13800138000"});
        assert_eq!(
            about_line(TicketKind::NegativeReview, &review, Lang::Zh),
            "您在淘宝上的评价"
        );
        assert_eq!(
            about_line(TicketKind::NegativeReview, &review, Lang::En),
            "Your review on taobao"
        );
        let ret = json!({"reason": "13800138000 broken", "items": [{"product_name": "青花瓷茶杯", "quantity": 1}]});
        assert_eq!(
            about_line(TicketKind::Return, &ret, Lang::Zh),
            "退换货：青花瓷茶杯"
        );
        assert_eq!(
            about_line(
                TicketKind::Repair,
                &json!({"fault": "x", "items": []}),
                Lang::En
            ),
            "Your repair"
        );
    }

    #[test]
    fn form_keys_are_bound_to_the_survey_and_expire() {
        let now = 1_800_000_000;
        let key = form_key(&KEY, "hash", now);
        assert!(form_key_valid(&KEY, "hash", &key, now));
        assert!(form_key_valid(
            &KEY,
            "hash",
            &key,
            now + FORM_KEY_HOURS * 3600
        ));
        assert!(!form_key_valid(
            &KEY,
            "hash",
            &key,
            now + FORM_KEY_HOURS * 3600 + 1
        ));
        assert!(
            !form_key_valid(&KEY, "hash", &key, now - 61),
            "from the future"
        );
        assert!(!form_key_valid(&KEY, "other", &key, now), "another survey");
        assert!(!form_key_valid(&[1; 32], "hash", &key, now), "another key");
        let forged = format!("{}.{}", now + 5, key.split_once('.').unwrap().1);
        assert!(!form_key_valid(&KEY, "hash", &forged, now));
        for junk in ["", ".", "x.y", "123"] {
            assert!(!form_key_valid(&KEY, "hash", junk, now), "{junk}");
        }
    }

    #[test]
    fn only_our_own_pages_may_submit() {
        let base = "https://shop.example";
        assert!(
            same_site(None, None, None, base),
            "curl: the form key decides"
        );
        assert!(same_site(
            Some("same-origin"),
            Some("https://shop.example"),
            None,
            base
        ));
        assert!(same_site(
            Some("same-origin"),
            Some("http://127.0.0.1:8080"),
            Some("127.0.0.1:8080"),
            base
        ));
        assert!(same_site(
            None,
            Some("https://shop.example:443"),
            None,
            base
        ));
        assert!(!same_site(Some("cross-site"), None, None, base));
        assert!(!same_site(
            Some("same-site"),
            Some("https://shop.example"),
            None,
            base
        ));
        assert!(!same_site(
            None,
            Some("https://evil.example"),
            Some("shop.example"),
            base
        ));
        assert!(!same_site(None, Some("null"), None, base));
        assert!(!same_site(Some("none"), Some("null"), None, base));
        assert!(
            same_site(Some("same-origin"), Some("null"), None, base),
            "no-referrer"
        );
    }

    #[test]
    fn the_form_is_read_leniently_but_checked() {
        let (a, problems) =
            read_form("score=2&reasons=speed&reasons=attitude&reasons=speed&comment=%E5%A4%AA%E6%85%A2%E4%BA%86%0D%0A&form_key=k&lang=en&extra=1".as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(a.score, Some(2));
        assert_eq!(
            a.reasons,
            vec![SatisfactionReason::Speed, SatisfactionReason::Attitude]
        );
        assert_eq!(a.comment.as_deref(), Some("太慢了"));
        assert_eq!(a.form_key, "k");
        assert_eq!(a.lang.as_deref(), Some("en"));
        assert_eq!(read_form(b"comment=x").1, vec![FormProblem::Score]);
        assert_eq!(read_form(b"score=6").1, vec![FormProblem::Score]);
        assert_eq!(read_form(b"score=abc").1, vec![FormProblem::Score]);
        assert_eq!(
            read_form(b"score=3&reasons=price").1,
            vec![FormProblem::Reasons]
        );
        let long = format!("score=3&comment={}", "x".repeat(MAX_COMMENT_CHARS + 1));
        assert_eq!(read_form(long.as_bytes()).1, vec![FormProblem::Comment]);
        assert_eq!(
            read_form(b"score=3&comment=a%00b").1,
            vec![FormProblem::Comment]
        );
        assert_eq!(read_form(b"score=3&comment=++").0.comment, None);
    }

    #[test]
    fn the_rate_limit_counts_within_its_window() {
        let window = Duration::minutes(10);
        let now = at(12);
        let times: Vec<NaiveDateTime> = (0..3).map(|i| now - Duration::minutes(i)).collect();
        assert_eq!(rate_wait(&times, 4, window, now), None);
        // The third newest (2 minutes old) leaves the window in 8 minutes.
        assert_eq!(rate_wait(&times, 3, window, now), Some(8 * 60));
    }
}
