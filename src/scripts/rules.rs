//! The rules of call scripts as pure functions: reading a body into text and
//! placeholders, filling it in for one ticket, which situation a ticket's state calls for
//! and the order its templates come in. No HTTP, no database.

use std::cmp::Ordering;

use serde_json::Value;

use super::{CallScript, CallScriptView, Placeholder, Situation};
use crate::tickets::{State, TicketKind};

/// One piece of a script body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text said as written (`{{` and `}}` already read as single braces).
    Text(String),
    Placeholder(Placeholder),
}

/// Reads a body into its pieces, or says what is wrong, for a person, naming the
/// offending placeholder or the position (in characters, from 1) of a stray brace.
pub fn parse(body: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = body.chars().enumerate().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, next)| next == '{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, next)| next == '}') => {
                chars.next();
                text.push('}');
            }
            '}' => {
                return Err(format!(
                    "has a '}}' without its '{{' at character {}; write '}}}}' for a literal brace",
                    at + 1
                ));
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for (_, inner) in chars.by_ref() {
                    match inner {
                        '}' => {
                            closed = true;
                            break;
                        }
                        // A second opening brace before the first closed: the first was
                        // never meant as a placeholder.
                        '{' => break,
                        other => name.push(other),
                    }
                }
                if !closed {
                    return Err(format!(
                        "has a '{{' that is never closed at character {}; write '{{{{' for a literal brace",
                        at + 1
                    ));
                }
                let placeholder = Placeholder::parse(&name).ok_or_else(|| {
                    format!("uses an unknown placeholder {{{name}}}; {}", known())
                })?;
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(Segment::Placeholder(placeholder));
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

fn known() -> String {
    let names: Vec<String> = Placeholder::ALL.iter().map(|p| p.written()).collect();
    format!("the placeholders are {}", names.join(", "))
}

/// The placeholders a body uses, in order of first use.
pub fn placeholders(segments: &[Segment]) -> Vec<Placeholder> {
    let mut used = Vec::new();
    for segment in segments {
        if let Segment::Placeholder(p) = segment
            && !used.contains(p)
        {
            used.push(*p);
        }
    }
    used
}

/// The body as it reads for one ticket, and the placeholders it had no value for (those
/// stay as written, so the agent sees what to fill in by voice).
pub fn render(
    segments: &[Segment],
    value_of: impl Fn(Placeholder) -> Option<String>,
) -> (String, Vec<Placeholder>) {
    let mut text = String::new();
    let mut missing = Vec::new();
    for segment in segments {
        match segment {
            Segment::Text(literal) => text.push_str(literal),
            Segment::Placeholder(p) => match value_of(*p) {
                Some(value) => text.push_str(&value),
                None => {
                    text.push_str(&p.written());
                    if !missing.contains(p) {
                        missing.push(*p);
                    }
                }
            },
        }
    }
    (text, missing)
}

impl CallScript {
    pub fn view(&self) -> CallScriptView {
        CallScriptView {
            id: self.id,
            ticket_kind: self.ticket_kind,
            situation: self.situation,
            title: self.title.clone(),
            body: self.body.clone(),
            placeholders: parse(&self.body)
                .map(|segments| placeholders(&segments))
                .unwrap_or_default(),
            active: self.active,
            created_by: self.created_by,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        }
    }
}

/// What is known about one ticket for filling in its templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub customer_name: Option<String>,
    pub order_no: Option<String>,
    pub product: Option<String>,
    pub agent_name: Option<String>,
}

impl Facts {
    /// A blank value is no value: the agent would otherwise read out an empty gap.
    pub fn value_of(&self, placeholder: Placeholder) -> Option<String> {
        let value = match placeholder {
            Placeholder::CustomerName => &self.customer_name,
            Placeholder::OrderNo => &self.order_no,
            Placeholder::Product => &self.product,
            Placeholder::AgentName => &self.agent_name,
        };
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

/// The product a ticket is about: the first item its details name (returns and repairs
/// list items), else the linked order's first item.
pub fn product_of(details: &str, first_order_item: Option<String>) -> Option<String> {
    serde_json::from_str::<Value>(details)
        .ok()
        .and_then(|details| {
            details["items"][0]["product_name"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|name| !name.trim().is_empty())
        .or(first_order_item)
}

/// The situation a ticket in `state` is in: a new ticket awaits its first call, one in
/// progress its next follow-up, a resolved one the closing words. A closed ticket
/// (unreachable, refused, duplicate) calls for none.
pub fn situation_for(state: State) -> Option<Situation> {
    match state {
        State::New => Some(Situation::FirstCall),
        State::FirstCall | State::FollowUp => Some(Situation::FollowUp),
        State::Resolved => Some(Situation::Resolution),
        State::Closed => None,
    }
}

/// The order of a ticket's templates: the current situation's first, then by situation
/// in declaration order (the order of a case's life); within one, the kind's own scripts
/// before kind-less ones, then by title and id.
pub fn template_order(current: Option<Situation>, a: &CallScript, b: &CallScript) -> Ordering {
    let key = |s: &CallScript| (Some(s.situation) != current, s.situation);
    key(a).cmp(&key(b)).then_with(|| list_order(a, b))
}

/// The order of the script list: by situation, then by kind (kind-less scripts last, so
/// that in a ticket's templates its kind's own come first), title and id.
pub fn list_order(a: &CallScript, b: &CallScript) -> Ordering {
    let key = |s: &CallScript| (s.situation, kind_rank(s.ticket_kind), s.title.clone(), s.id);
    key(a).cmp(&key(b))
}

fn kind_rank(kind: Option<TicketKind>) -> (bool, Option<TicketKind>) {
    (kind.is_none(), kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Placeholder::*;
    use Segment::{Placeholder as P, Text};
    use chrono::NaiveDateTime;

    fn text(s: &str) -> Segment {
        Text(s.to_owned())
    }

    #[test]
    fn bodies_read_into_text_and_placeholders() {
        let cases: Vec<(&str, Vec<Segment>)> = vec![
            ("", vec![]),
            ("您好", vec![text("您好")]),
            ("{customer_name}您好", vec![P(CustomerName), text("您好")]),
            (
                "订单{order_no}的{product}",
                vec![text("订单"), P(OrderNo), text("的"), P(Product)],
            ),
            ("{agent_name}{agent_name}", vec![P(AgentName), P(AgentName)]),
            ("{{literal}}", vec![text("{literal}")]),
            ("{{{product}}}", vec![text("{"), P(Product), text("}")]),
            ("a }} b {{ c", vec![text("a } b { c")]),
            (
                "多行\n{product}\n",
                vec![text("多行\n"), P(Product), text("\n")],
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body), Ok(expected), "{body:?}");
        }
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_refused_by_name_or_place() {
        let cases: Vec<(&str, &str)> = vec![
            ("{customer}您好", "unknown placeholder {customer}"),
            ("{Customer_Name}", "unknown placeholder {Customer_Name}"),
            ("{ customer_name }", "unknown placeholder { customer_name }"),
            ("{}", "unknown placeholder {}"),
            ("您好{customer_name", "never closed at character 3"),
            ("{", "never closed at character 1"),
            ("{order_no{product}", "never closed at character 1"),
            ("您好}", "without its '{' at character 3"),
            ("{product}}", "without its '{' at character 10"),
            ("{{order_no}", "without its '{' at character 11"),
        ];
        for (body, expected) in cases {
            let error = parse(body).expect_err(body);
            assert!(error.contains(expected), "{body:?}: {error}");
        }
        assert!(
            parse("{shop}").unwrap_err().contains(
                "the placeholders are {customer_name}, {order_no}, {product}, {agent_name}"
            )
        );
    }

    #[test]
    fn rendering_fills_what_is_known_and_keeps_the_rest_as_written() {
        let facts = Facts {
            customer_name: Some("李娜".into()),
            order_no: None,
            product: Some("紫砂壶".into()),
            agent_name: Some("  ".into()),
        };
        let cases: Vec<(&str, &str, Vec<Placeholder>)> = vec![
            ("{customer_name}您好", "李娜您好", vec![]),
            (
                "订单{order_no}：{product}，{order_no}",
                "订单{order_no}：紫砂壶，{order_no}",
                vec![OrderNo],
            ),
            ("我是{agent_name}", "我是{agent_name}", vec![AgentName]),
            ("{{product}} {product}", "{product} 紫砂壶", vec![]),
        ];
        for (body, expected, missing) in cases {
            let segments = parse(body).unwrap();
            let rendered = render(&segments, |p| facts.value_of(p));
            assert_eq!(rendered, (expected.to_owned(), missing), "{body:?}");
        }
    }

    #[test]
    fn a_value_is_never_read_as_a_placeholder() {
        let facts = Facts {
            customer_name: Some("{order_no}".into()),
            ..Facts::default()
        };
        let segments = parse("{customer_name}").unwrap();
        assert_eq!(
            render(&segments, |p| facts.value_of(p)),
            ("{order_no}".to_owned(), vec![])
        );
    }

    #[test]
    fn placeholders_are_listed_once_in_order_of_use() {
        let segments = parse("{product}{customer_name}{product}").unwrap();
        assert_eq!(placeholders(&segments), [Product, CustomerName]);
    }

    #[test]
    fn the_product_comes_from_the_details_then_the_order() {
        let repair = r#"{"fault":"no heat","items":[{"product_name":"Kettle","quantity":1}]}"#;
        let review = r#"{"platform":"taobao","rating":2}"#;
        let cases = [
            (repair, Some("Teapot"), Some("Kettle")),
            (repair, None, Some("Kettle")),
            (review, Some("Teapot"), Some("Teapot")),
            (review, None, None),
            ("not json", Some("Teapot"), Some("Teapot")),
        ];
        for (details, order_item, expected) in cases {
            assert_eq!(
                product_of(details, order_item.map(str::to_owned)).as_deref(),
                expected,
                "{details} / {order_item:?}"
            );
        }
    }

    #[test]
    fn each_state_calls_for_its_situation() {
        let cases = [
            (State::New, Some(Situation::FirstCall)),
            (State::FirstCall, Some(Situation::FollowUp)),
            (State::FollowUp, Some(Situation::FollowUp)),
            (State::Resolved, Some(Situation::Resolution)),
            (State::Closed, None),
        ];
        for (state, situation) in cases {
            assert_eq!(situation_for(state), situation, "{state}");
        }
    }

    fn script(id: i64, kind: Option<TicketKind>, situation: Situation) -> CallScript {
        let at = NaiveDateTime::default();
        CallScript {
            id,
            shop_id: crate::ids::ShopId(1),
            ticket_kind: kind,
            situation,
            title: format!("script {id}"),
            body: String::new(),
            active: true,
            created_by: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_current_situation_comes_first_then_the_kinds_own_scripts() {
        let review = Some(TicketKind::NegativeReview);
        let mut scripts = vec![
            script(1, None, Situation::FirstCall),
            script(2, review, Situation::Resolution),
            script(3, None, Situation::FollowUp),
            script(4, review, Situation::FollowUp),
            script(5, review, Situation::FirstCall),
        ];
        let ids = |scripts: &[CallScript]| scripts.iter().map(|s| s.id).collect::<Vec<_>>();
        scripts.sort_by(|a, b| template_order(Some(Situation::FollowUp), a, b));
        assert_eq!(ids(&scripts), [4, 3, 5, 1, 2]);
        scripts.sort_by(|a, b| template_order(None, a, b));
        assert_eq!(ids(&scripts), [5, 1, 4, 3, 2]);
    }
}
