//! The buyer's pages, outside `/api/v1` and without a login: `GET /s/{token}` (the
//! survey), `POST /s/{token}` (the answer, then a thank-you page) and
//! `GET /s/assets/survey.css`. Plain HTML forms that work without JavaScript, Chinese by
//! default (English by `Accept-Language` or `?lang=en`), templates checked at compile
//! time (maud), the stylesheet served by the binary itself.
//!
//! Every answer carries a strict Content-Security-Policy (nothing but this site's own
//! stylesheet, forms posted only here, no framing), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer` (the link is the buyer's key; it must not leak to other
//! sites). Cross-site submission is refused without cookies: a browser that names where a
//! request comes from (`Sec-Fetch-Site`, `Origin`) must name this site, and the form
//! carries its own key (a MAC of the survey and the time it was rendered, valid
//! [`rules::FORM_KEY_HOURS`]). Requests are limited per token and per client address
//! (`SURVEY_RATE_PER_TOKEN`, `SURVEY_RATE_PER_ADDRESS`; [`super::SurveyLimiter`]). Unknown, expired, used and withdrawn links get a page of
//! their own with the fitting status (404, 410, 409), never an error document.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use maud::{DOCTYPE, Markup, html};

use super::SurveyStatus;
use super::operations::{self, BuyerAnswer, Found};
use super::rules::{self, FormAnswer, FormProblem, Lang};
use crate::auth::authenticate::ClientAddress;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tickets::SatisfactionReason;

/// The stylesheet, compiled into the binary.
pub const STYLESHEET: &str = include_str!("survey.css");
const STYLESHEET_PATH: &str = "/s/assets/survey.css";
/// Largest accepted form body: a 2,000-character comment percent-encoded is 18 KB.
const MAX_FORM_BYTES: usize = 32 * 1024;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(STYLESHEET_PATH).route(web::get().to(stylesheet)))
        .service(
            web::resource("/s/{token}")
                .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
                .route(web::get().to(show))
                .route(web::post().to(submit)),
        );
}

/// The words of the pages, in each language.
struct Texts {
    title: &'static str,
    hello: &'static str,
    hello_named: &'static str,
    about: &'static str,
    question: &'static str,
    star: &'static str,
    star_labels: [&'static str; 5],
    scale_low: &'static str,
    scale_high: &'static str,
    reasons: &'static str,
    reason_labels: [&'static str; 5],
    comment: &'static str,
    submit: &'static str,
    switch: &'static str,
    privacy: &'static str,
    error_score: &'static str,
    error_comment: &'static str,
    error_reasons: &'static str,
    thanks_title: &'static str,
    thanks_body: &'static str,
    answered_title: &'static str,
    answered_body: &'static str,
    expired_title: &'static str,
    expired_body: &'static str,
    withdrawn_title: &'static str,
    withdrawn_body: &'static str,
    unknown_title: &'static str,
    unknown_body: &'static str,
    stale_title: &'static str,
    stale_body: &'static str,
    again: &'static str,
    busy_title: &'static str,
    busy_body: &'static str,
    down_title: &'static str,
    down_body: &'static str,
}

const ZH: Texts = Texts {
    title: "服务满意度调查",
    hello: "您好！",
    hello_named: "，您好！",
    about: "关于：",
    question: "您对这次售后服务满意吗？",
    star: "星",
    star_labels: ["非常不满意", "不满意", "一般", "满意", "非常满意"],
    scale_low: "非常不满意",
    scale_high: "非常满意",
    reasons: "哪些方面？（选填，可多选）",
    reason_labels: ["处理速度", "服务态度", "解决方案", "产品质量", "其他"],
    comment: "还想说点什么？（选填）",
    submit: "提交评价",
    switch: "English",
    privacy: "您的评价只用于改进我们的服务。",
    error_score: "请选择 1 到 5 颗星。",
    error_comment: "留言最多 2000 字。",
    error_reasons: "请从列出的方面中选择。",
    thanks_title: "感谢您的评价！",
    thanks_body: "您的反馈已送达，我们会认真对待。",
    answered_title: "您已经评价过了",
    answered_body: "每次服务只能评价一次。感谢您的反馈！",
    expired_title: "链接已过期",
    expired_body: "这个评价链接已经失效。如有需要，请联系客服。",
    withdrawn_title: "调查已关闭",
    withdrawn_body: "您的问题正在重新处理，处理完毕后我们会再邀请您评价。",
    unknown_title: "链接无效",
    unknown_body: "找不到这个评价链接，请检查链接是否完整。",
    stale_title: "页面已过期",
    stale_body: "为了安全，请重新打开评价页面后再提交。",
    again: "重新打开评价页面",
    busy_title: "请稍后再试",
    busy_body: "请求过于频繁，请稍等片刻再试。",
    down_title: "暂时无法提交",
    down_body: "系统繁忙，请稍后再试。",
};

const EN: Texts = Texts {
    title: "How did we do?",
    hello: "Hello!",
    hello_named: ", hello!",
    about: "About: ",
    question: "How satisfied are you with our after-sales service?",
    star: "star",
    star_labels: ["very unhappy", "unhappy", "okay", "happy", "very happy"],
    scale_low: "Very unhappy",
    scale_high: "Very happy",
    reasons: "What stood out? (optional, pick any)",
    reason_labels: ["Speed", "Attitude", "Solution", "Product quality", "Other"],
    comment: "Anything else to tell us? (optional)",
    submit: "Send",
    switch: "中文",
    privacy: "Your answer is only used to improve our service.",
    error_score: "Please choose 1 to 5 stars.",
    error_comment: "The comment may be at most 2000 characters.",
    error_reasons: "Please choose from the listed reasons.",
    thanks_title: "Thank you!",
    thanks_body: "Your feedback has reached us, and we will take it to heart.",
    answered_title: "You have already answered",
    answered_body: "Each case can be rated once. Thank you for your feedback!",
    expired_title: "This link has expired",
    expired_body: "The survey link is no longer valid. Please contact the shop if you need help.",
    withdrawn_title: "This survey is closed",
    withdrawn_body: "Your case is being handled again; we will ask you once it is settled.",
    unknown_title: "Link not found",
    unknown_body: "We cannot find this survey link. Please check that it is complete.",
    stale_title: "This page has expired",
    stale_body: "For your safety, please open the survey again and send it from there.",
    again: "Open the survey again",
    busy_title: "Please try again shortly",
    busy_body: "Too many requests; please wait a moment and try again.",
    down_title: "Cannot send right now",
    down_body: "The service is busy; please try again shortly.",
};

fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// What a form shows: the survey's facts, the form key, and on a second try the answer
/// given with what was wrong.
pub struct FormPage<'a> {
    pub token: &'a str,
    pub shop_name: &'a str,
    pub first_name: &'a str,
    pub about: &'a str,
    pub form_key: &'a str,
    pub given: Option<&'a FormAnswer>,
    pub problems: &'a [FormProblem],
}

fn layout(
    lang: Lang,
    shop_name: &str,
    title: &str,
    switch_to: Option<&str>,
    body: Markup,
) -> Markup {
    let t = texts(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.html()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) @if !shop_name.is_empty() { " · " (shop_name) } }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                main {
                    div.top {
                        p.shop { (shop_name) }
                        @if let Some(href) = switch_to {
                            p.lang { a href=(href) lang=(lang.other().html()) { (t.switch) } }
                        }
                    }
                    (body)
                }
            }
        }
    }
}

/// The survey form.
pub fn form_page(lang: Lang, page: &FormPage<'_>) -> Markup {
    let t = texts(lang);
    let given_score = page.given.and_then(|g| g.score);
    let given_reasons = page.given.map(|g| g.reasons.as_slice()).unwrap_or_default();
    let given_comment = page
        .given
        .and_then(|g| g.comment.as_deref())
        .unwrap_or_default();
    let has = |p: FormProblem| page.problems.contains(&p);
    let greeting = if page.first_name.is_empty() {
        t.hello.to_owned()
    } else {
        format!("{}{}", page.first_name, t.hello_named)
    };
    let switch = format!("?lang={}", lang.other().code());
    let body = html! {
        h1 { (greeting) }
        p.about { (t.about) (page.about) }
        form.card method="post" action={ "/s/" (page.token) } accept-charset="utf-8" {
            input type="hidden" name="form_key" value=(page.form_key);
            input type="hidden" name="lang" value=(lang.code());
            fieldset aria-describedby=[has(FormProblem::Score).then_some("score-error")] {
                legend { (t.question) }
                @if has(FormProblem::Score) {
                    p.error id="score-error" role="alert" { (t.error_score) }
                }
                div.stars {
                    @for n in 1..=5 {
                        input.vh type="radio" name="score" id={ "score-" (n) } value=(n) checked[given_score == Some(n)];
                        label for={ "score-" (n) } {
                            span aria-hidden="true" { "★" }
                            span.vh { (n) " " (t.star) "：" (t.star_labels[(n - 1) as usize]) }
                        }
                    }
                }
                div.scale aria-hidden="true" { span { (t.scale_low) } span { (t.scale_high) } }
            }
            fieldset {
                legend { (t.reasons) }
                @if has(FormProblem::Reasons) {
                    p.error role="alert" { (t.error_reasons) }
                }
                div.chips {
                    @for (i, reason) in SatisfactionReason::ALL.into_iter().enumerate() {
                        input.vh type="checkbox" name="reasons" id={ "reason-" (reason.as_str()) } value=(reason.as_str()) checked[given_reasons.contains(&reason)];
                        label for={ "reason-" (reason.as_str()) } { (t.reason_labels[i]) }
                    }
                }
            }
            label.field-label for="comment" { (t.comment) }
            @if has(FormProblem::Comment) {
                p.error id="comment-error" role="alert" { (t.error_comment) }
            }
            textarea id="comment" name="comment" rows="3" maxlength="2000" aria-describedby=[has(FormProblem::Comment).then_some("comment-error")] { (given_comment) }
            button type="submit" { (t.submit) }
            p.note { (t.privacy) }
        }
    };
    layout(lang, page.shop_name, t.title, Some(&switch), body)
}

/// What a page other than the form says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Thanks,
    Answered,
    Expired,
    Withdrawn,
    Unknown,
    /// The form key was missing, forged or too old, or the form came from another site.
    Stale,
    Busy,
    Down,
}

impl Notice {
    pub fn status(self) -> StatusCode {
        match self {
            Notice::Thanks => StatusCode::OK,
            Notice::Answered => StatusCode::CONFLICT,
            Notice::Expired | Notice::Withdrawn => StatusCode::GONE,
            Notice::Unknown => StatusCode::NOT_FOUND,
            Notice::Stale => StatusCode::FORBIDDEN,
            Notice::Busy => StatusCode::TOO_MANY_REQUESTS,
            Notice::Down => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn of(status: SurveyStatus) -> Notice {
        match status {
            SurveyStatus::Pending | SurveyStatus::Answered => Notice::Answered,
            SurveyStatus::Expired => Notice::Expired,
            SurveyStatus::Withdrawn => Notice::Withdrawn,
        }
    }
}

/// A page that says one thing: thanks, or why the survey cannot be answered.
pub fn notice_page(
    lang: Lang,
    notice: Notice,
    shop_name: &str,
    token: Option<&str>,
    score: Option<i32>,
) -> Markup {
    let t = texts(lang);
    let (title, text) = match notice {
        Notice::Thanks => (t.thanks_title, t.thanks_body),
        Notice::Answered => (t.answered_title, t.answered_body),
        Notice::Expired => (t.expired_title, t.expired_body),
        Notice::Withdrawn => (t.withdrawn_title, t.withdrawn_body),
        Notice::Unknown => (t.unknown_title, t.unknown_body),
        Notice::Stale => (t.stale_title, t.stale_body),
        Notice::Busy => (t.busy_title, t.busy_body),
        Notice::Down => (t.down_title, t.down_body),
    };
    let again = match (notice, token) {
        (Notice::Stale | Notice::Busy | Notice::Down, Some(token)) => {
            Some(format!("/s/{token}?lang={}", lang.code()))
        }
        _ => None,
    };
    let body = html! {
        div.card.done {
            @if let Some(score) = score {
                p.big aria-hidden="true" { @for _ in 0..score { "★" } }
            }
            h1 { (title) }
            p { (text) }
            @if let Some(href) = again {
                p { a href=(href) { (t.again) } }
            }
        }
    };
    layout(lang, shop_name, title, None, body)
}

fn page_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

fn notice(lang: Lang, notice: Notice, shop_name: &str, token: Option<&str>) -> HttpResponse {
    let mut res = page_response(
        notice.status(),
        notice_page(lang, notice, shop_name, token, None),
    );
    if notice == Notice::Busy {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
    }
    res
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `lang` of the query string, if any (other parameters are ignored).
fn lang_switch(req: &HttpRequest) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "lang")
        .map(|(_, value)| value.into_owned())
}

/// Counts the request against its token and address; the page to answer when over.
fn limited(state: &AppState, req: &HttpRequest, token: &str) -> Result<(), ()> {
    let address = ClientAddress::of(req, &state.settings.server.trusted_proxies);
    let limits = &state.settings.surveys;
    let subjects = [
        (format!("token:{token}"), limits.survey_rate_per_token),
        (
            format!("address:{}", address.as_deref().unwrap_or("unknown")),
            limits.survey_rate_per_address,
        ),
    ];
    state
        .survey_limits
        .hit(&subjects, Utc::now().naive_utc())
        .map_err(|_| ())
}

/// The page a database failure shows (503), or a bug's (logged, 500 as a page).
fn failure(lang: Lang, error: ApiError) -> HttpResponse {
    if matches!(error, ApiError::Internal(_)) {
        tracing::error!(%error, "survey page failed");
    }
    let mut res = notice(lang, Notice::Down, "", None);
    if matches!(error, ApiError::Internal(_)) {
        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    res
}

fn form_response(
    state: &AppState,
    lang: Lang,
    token: &str,
    found: &Found,
    given: Option<&FormAnswer>,
    problems: &[FormProblem],
    status: StatusCode,
) -> HttpResponse {
    let key = rules::form_key(
        &state.surveys.link_key,
        &found.survey.token_hash,
        Utc::now().timestamp(),
    );
    let about = found.facts.about(lang);
    let markup = form_page(
        lang,
        &FormPage {
            token,
            shop_name: &found.facts.shop_name,
            first_name: &found.facts.first_name,
            about: &about,
            form_key: &key,
            given,
            problems,
        },
    );
    page_response(status, markup)
}

async fn find(state: &AppState, token: &str) -> Result<Option<Found>, ApiError> {
    if !rules::is_token_shaped(token) {
        return Ok(None);
    }
    let hash = rules::token_hash(token);
    state
        .db
        .read(move |conn| operations::find(conn, &hash, Utc::now().naive_utc()))
        .await
}

/// `GET /s/{token}`: the survey, or a page saying why it cannot be answered.
pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let lang = Lang::choose(
        lang_switch(&req).as_deref(),
        header_str(&req, header::ACCEPT_LANGUAGE),
    );
    let token = token.into_inner();
    if limited(&state, &req, &token).is_err() {
        return notice(lang, Notice::Busy, "", None);
    }
    match find(&state, &token).await {
        Ok(None) => notice(lang, Notice::Unknown, "", None),
        Ok(Some(found)) if found.status == SurveyStatus::Pending => {
            form_response(&state, lang, &token, &found, None, &[], StatusCode::OK)
        }
        Ok(Some(found)) => {
            // A used link is gone for the buyer: 410 whatever the reason.
            let mut res = notice(lang, Notice::of(found.status), &found.facts.shop_name, None);
            *res.status_mut() = StatusCode::GONE;
            res
        }
        Err(error) => failure(lang, error),
    }
}

/// `POST /s/{token}`: the answer. Recorded once; then the thank-you page.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let token = token.into_inner();
    let (given, problems) = rules::read_form(&body);
    let lang = Lang::choose(
        given.lang.as_deref(),
        header_str(&req, header::ACCEPT_LANGUAGE),
    );
    if limited(&state, &req, &token).is_err() {
        return notice(lang, Notice::Busy, "", Some(&token));
    }
    let found = match find(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return notice(lang, Notice::Unknown, "", None),
        Err(error) => return failure(lang, error),
    };
    let shop_name = found.facts.shop_name.clone();
    if found.status != SurveyStatus::Pending {
        return notice(lang, Notice::of(found.status), &shop_name, None);
    }
    let same_site = rules::same_site(
        header_str(&req, header::HeaderName::from_static("sec-fetch-site")),
        header_str(&req, header::ORIGIN),
        header_str(&req, header::HOST),
        &state.surveys.base_url,
    );
    let key_valid = rules::form_key_valid(
        &state.surveys.link_key,
        &found.survey.token_hash,
        &given.form_key,
        Utc::now().timestamp(),
    );
    if !same_site || !key_valid {
        return notice(lang, Notice::Stale, &shop_name, Some(&token));
    }
    let Some(score) = given.score.filter(|_| problems.is_empty()) else {
        return form_response(
            &state,
            lang,
            &token,
            &found,
            Some(&given),
            &problems,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let answer = BuyerAnswer {
        score,
        reasons: given.reasons.clone(),
        comment: given.comment.clone(),
    };
    let settings = (state.sla.clone(), state.settings.tiers);
    let survey = found.survey;
    let recorded = state
        .db
        .write(move |conn| {
            let sla = settings.0.get(conn, survey.shop_id)?;
            operations::answer(
                conn,
                &survey,
                &answer,
                (sla, settings.1),
                Utc::now().naive_utc(),
            )
        })
        .await;
    match recorded {
        Ok((_, true)) => page_response(
            StatusCode::OK,
            notice_page(lang, Notice::Thanks, &shop_name, None, Some(score)),
        ),
        Ok((status, false)) => notice(lang, Notice::of(status), &shop_name, None),
        Err(error) => failure(lang, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(lang: Lang, given: Option<&FormAnswer>, problems: &[FormProblem]) -> String {
        form_page(
            lang,
            &FormPage {
                token: "tok",
                shop_name: "<小店>",
                first_name: "静",
                about: "您在淘宝上的评价",
                form_key: "1.k",
                given,
                problems,
            },
        )
        .into_string()
    }

    #[test]
    fn the_form_works_without_script_and_escapes_what_it_shows() {
        let html = page(Lang::Zh, None, &[]);
        assert!(html.starts_with("<!DOCTYPE html><html lang=\"zh-CN\">"));
        assert!(html.contains("<form class=\"card\" method=\"post\" action=\"/s/tok\""));
        assert!(html.contains("&lt;小店&gt;"), "the shop's name is escaped");
        assert!(!html.contains("<script"), "no script at all");
        assert!(
            !html.contains("style="),
            "no inline style (the CSP forbids it)"
        );
        assert_eq!(html.matches("type=\"radio\"").count(), 5);
        assert_eq!(html.matches("type=\"checkbox\"").count(), 5);
        assert!(html.contains("静，您好！"));
        assert!(html.contains("href=\"?lang=en\""));
        assert!(!html.contains("role=\"alert\""));
        let en = page(Lang::En, None, &[]);
        assert!(en.contains("lang=\"en\"") && en.contains("How satisfied"));
    }

    #[test]
    fn a_second_try_keeps_the_answer_and_says_what_is_wrong() {
        let given = FormAnswer {
            score: None,
            reasons: vec![SatisfactionReason::Speed],
            comment: Some("<b>慢</b>".into()),
            form_key: String::new(),
            lang: None,
        };
        let html = page(Lang::Zh, Some(&given), &[FormProblem::Score]);
        assert!(html.contains("请选择 1 到 5 颗星。"));
        assert!(html.contains("aria-describedby=\"score-error\""));
        assert!(html.contains("id=\"reason-speed\" value=\"speed\" checked"));
        assert!(html.contains("&lt;b&gt;慢&lt;/b&gt;</textarea>"));
    }

    #[test]
    fn each_notice_has_its_status() {
        assert_eq!(Notice::Thanks.status(), StatusCode::OK);
        assert_eq!(Notice::Unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(Notice::Expired.status(), StatusCode::GONE);
        assert_eq!(Notice::Answered.status(), StatusCode::CONFLICT);
        assert_eq!(Notice::Busy.status(), StatusCode::TOO_MANY_REQUESTS);
        let html = notice_page(Lang::Zh, Notice::Thanks, "小店", None, Some(2)).into_string();
        assert!(html.contains("感谢您的评价！") && html.contains("★★<"));
    }
}
