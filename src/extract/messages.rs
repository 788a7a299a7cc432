//! serde's and chrono's error texts in the words of the people who read them.
//!
//! A shop's staff and an integrator both read a 422: neither should meet `expected u8`,
//! `premature end of input` or a Rust type name. serde's messages have a small, stable
//! grammar ("invalid type: X, expected Y", "unknown variant `x`, expected one of ...",
//! "missing field `x`", and the parse errors of numbers and dates), so they are rewritten
//! here by that grammar; a message this module does not recognise (one of ours, written
//! for people already) passes through unchanged.

/// An example of each date shape, shown in every date message.
const DATE_TIME_EXAMPLE: &str = "2026-11-01T09:30:00+08:00";
const DATE_EXAMPLE: &str = "2026-11-01";

/// The fields and parameters that take a calendar date (`YYYY-MM-DD`); every other date
/// field takes a date and time. A test over the OpenAPI document keeps this list equal to
/// the document's `format: date` fields, so a new date field cannot get the wrong sentence.
pub const DAY_FIELDS: &[&str] = &[
    "birthday",
    "date",
    "day",
    "from",
    "holidays",
    "to",
    "used_up_on",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateShape {
    Instant,
    Day,
}

fn date_shape_of(field: &str) -> DateShape {
    if DAY_FIELDS.contains(&leaf(field)) {
        DateShape::Day
    } else {
        DateShape::Instant
    }
}

fn date_sentence(shape: DateShape) -> String {
    match shape {
        DateShape::Instant => format!(
            "must be a date and time with its UTC offset (RFC 3339), e.g. {DATE_TIME_EXAMPLE}"
        ),
        DateShape::Day => format!("must be a calendar date as YYYY-MM-DD, e.g. {DATE_EXAMPLE}"),
    }
}

/// chrono's `ParseError` texts: whichever appears, the value was not a date of the shape
/// the field takes.
const CHRONO_PARSE_ERRORS: &[&str] = &[
    "input is out of range",
    "no possible date and time matching input",
    "input is not enough for unique date and time",
    "input contains invalid characters",
    "premature end of input",
    "trailing input",
    "bad or unsupported format string",
];

/// The message a client sees for serde's `message` about `field` (a dotted path, or a
/// query parameter's name).
pub fn plain_words(message: &str, field: &str) -> String {
    let message = message.trim();
    if CHRONO_PARSE_ERRORS.contains(&message) {
        return date_sentence(date_shape_of(field));
    }
    if message.starts_with("missing field `") {
        return "is required".into();
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return unknown_field(rest);
    }
    if message.starts_with("duplicate field `") {
        return "appears more than once: send each field once".into();
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        return unknown_variant(rest);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        return invalid_type(rest, field);
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        return invalid_value(rest, field);
    }
    if message.starts_with("invalid length ") {
        return "has the wrong number of items".into();
    }
    // The standard library's number parsing, as serde_urlencoded reports it for parameters.
    match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            return "must be a whole number, e.g. 25".into();
        }
        "number too large to fit in target type" => return "is too large a number".into(),
        "number too small to fit in target type" => return "is too small a number".into(),
        "invalid float literal" => return "must be a number, e.g. 12.5".into(),
        "provided string was not `true` or `false`" => return "must be true or false".into(),
        _ => {}
    }
    message.to_owned()
}

/// serde's "expected" side, as the kind of value a person would name.
fn expected_words(expected: &str, field: &str) -> String {
    let expected = expected.trim();
    let integer = |bits: &str| {
        matches!(
            bits,
            "u8" | "u16"
                | "u32"
                | "u64"
                | "u128"
                | "usize"
                | "i8"
                | "i16"
                | "i32"
                | "i64"
                | "i128"
                | "isize"
        )
    };
    match expected {
        e if integer(e) => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" | "a character" => "text (a JSON string)".into(),
        "a sequence" => "a list ([...])".into(),
        "a map" => "an object ({...})".into(),
        e if e.starts_with("struct ") || e.starts_with("a struct") => "an object ({...})".into(),
        e if e.starts_with("a formatted date and time string") => date_sentence(DateShape::Instant)
            .trim_start_matches("must be ")
            .to_owned(),
        e if e.starts_with("a formatted date string") => date_sentence(DateShape::Day)
            .trim_start_matches("must be ")
            .to_owned(),
        e if e.starts_with("variant identifier") || e.starts_with("enum ") => {
            "one of the listed values".into()
        }
        // Our own `expecting` texts are written for people; anything else is named by
        // the field instead of echoing a type.
        e if e.contains("::") || e.chars().next().is_some_and(char::is_uppercase) => {
            match leaf(field) {
                "" => "a valid value".to_owned(),
                name => format!("a valid value for {name}"),
            }
        }
        e => e.to_owned(),
    }
}

/// serde's "unexpected" side: what arrived instead.
fn received_words(unexpected: &str) -> &'static str {
    let unexpected = unexpected.trim();
    if unexpected.starts_with("string") || unexpected.starts_with("character") {
        "text"
    } else if unexpected.starts_with("integer") || unexpected.starts_with("floating point") {
        "a number"
    } else if unexpected.starts_with("boolean") {
        "true/false"
    } else if unexpected == "null" || unexpected.starts_with("unit") {
        "null"
    } else if unexpected == "sequence" {
        "a list"
    } else if unexpected == "map" {
        "an object"
    } else {
        "something else"
    }
}

fn invalid_type(rest: &str, field: &str) -> String {
    let Some((unexpected, expected)) = split_expected(rest) else {
        return "has the wrong type".into();
    };
    let received = received_words(unexpected);
    if expected.starts_with("a formatted date") {
        let shape = if expected.starts_with("a formatted date and time") {
            DateShape::Instant
        } else {
            DateShape::Day
        };
        return format!("{}, not {received}", date_sentence(shape));
    }
    if unexpected.starts_with("floating point") && expected_is_integer(expected) {
        return "must be a whole number (no decimals)".into();
    }
    format!(
        "must be {}, not {received}",
        expected_words(expected, field)
    )
}

fn invalid_value(rest: &str, field: &str) -> String {
    let Some((unexpected, expected)) = split_expected(rest) else {
        return "is not a valid value".into();
    };
    if expected_is_integer(expected) && unexpected.starts_with("integer") {
        let number = unexpected
            .trim_start_matches("integer")
            .trim()
            .trim_matches('`');
        let bound = integer_bounds(expected);
        return match (number.starts_with('-'), bound) {
            (true, Some((0, _))) => "must not be negative".into(),
            (_, Some((min, max))) => format!("must be a whole number from {min} to {max}"),
            _ => "is out of range".into(),
        };
    }
    format!("must be {}", expected_words(expected, field))
}

fn split_expected(rest: &str) -> Option<(&str, &str)> {
    rest.rsplit_once(", expected ")
}

fn expected_is_integer(expected: &str) -> bool {
    integer_bounds(expected).is_some() || matches!(expected.trim(), "u128" | "i128" | "usize")
}

fn integer_bounds(expected: &str) -> Option<(i128, i128)> {
    Some(match expected.trim() {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

fn unknown_variant(rest: &str) -> String {
    let allowed = backticked(rest.split_once("expected").map_or("", |(_, tail)| tail));
    if allowed.is_empty() {
        "is not one of the accepted values".into()
    } else {
        format!("must be one of: {}", allowed.join(", "))
    }
}

fn unknown_field(rest: &str) -> String {
    let allowed = backticked(rest.split_once("expected").map_or("", |(_, tail)| tail));
    if rest.contains("there are no fields") || allowed.is_empty() {
        "is not accepted here: this request takes no such field".into()
    } else {
        format!(
            "is not a field of this request; accepted: {}",
            allowed.join(", ")
        )
    }
}

/// The names serde quotes with backticks, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The last name in a dotted path (`items[0].ordered_at` → `ordered_at`).
/// The name a field's value is under: `holidays[3]` is a `holidays` day,
/// `make_up_days[0].date` a `date`.
fn leaf(field: &str) -> &str {
    let named = field
        .trim_end_matches(|c: char| c == ']' || c.is_ascii_digit())
        .trim_end_matches('[');
    named.rsplit(['.', ']']).next().unwrap_or(named)
}

#[cfg(test)]
mod tests {
    use super::plain_words;

    /// Every message a client may see for a serde or chrono error: no Rust type, no
    /// parser jargon.
    fn assert_plain(message: &str) {
        for jargon in [
            "u8",
            "u16",
            "u32",
            "u64",
            "i32",
            "i64",
            "usize",
            "f64",
            "premature",
            "struct ",
            "sequence",
            "variant",
            "input is",
            "::",
            "`",
        ] {
            assert!(
                !message.contains(jargon),
                "{message:?} still says {jargon:?}"
            );
        }
    }

    #[test]
    fn dates_say_the_shape_expected_with_an_example() {
        for (raw, field, expected) in [
            (
                "premature end of input",
                "ordered_at",
                "2026-11-01T09:30:00+08:00",
            ),
            ("input is out of range", "birthday", "YYYY-MM-DD"),
            ("input contains invalid characters", "from", "2026-11-01"),
            ("trailing input", "items[0].ordered_at", "UTC offset"),
            (
                "invalid type: integer `5`, expected a formatted date and time string or a unix timestamp",
                "ordered_at",
                "RFC 3339",
            ),
            (
                "invalid type: integer `5`, expected a formatted date string",
                "birthday",
                "YYYY-MM-DD",
            ),
        ] {
            let message = plain_words(raw, field);
            assert!(message.contains(expected), "{raw} on {field}: {message}");
            assert_plain(&message);
        }
    }

    #[test]
    fn types_are_named_as_kinds_of_value_not_rust_types() {
        let cases = [
            (
                "invalid type: string \"five\", expected u8",
                "must be a whole number, not text",
            ),
            (
                "invalid type: floating point `1.5`, expected i64",
                "must be a whole number (no decimals)",
            ),
            (
                "invalid type: integer `1`, expected a string",
                "must be text (a JSON string), not a number",
            ),
            (
                "invalid type: null, expected a boolean",
                "must be true or false, not null",
            ),
            (
                "invalid type: map, expected a sequence",
                "must be a list ([...]), not an object",
            ),
            (
                "invalid type: string \"x\", expected struct TicketItem",
                "must be an object ({...}), not text",
            ),
            (
                "invalid value: integer `300`, expected u8",
                "must be a whole number from 0 to 255",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "must not be negative",
            ),
            (
                "unknown variant `douyn`, expected one of `taobao`, `tmall`, `jd`",
                "must be one of: taobao, tmall, jd",
            ),
            (
                "unknown variant `x`, expected `asc` or `desc`",
                "must be one of: asc, desc",
            ),
            ("missing field `email`", "is required"),
            (
                "unknown field `nmae`, expected `name` or `group`",
                "is not a field of this request; accepted: name, group",
            ),
            (
                "unknown field `group`, there are no fields",
                "is not accepted here: this request takes no such field",
            ),
            (
                "invalid digit found in string",
                "must be a whole number, e.g. 25",
            ),
            (
                "number too large to fit in target type",
                "is too large a number",
            ),
            (
                "provided string was not `true` or `false`",
                "must be true or false",
            ),
        ];
        for (raw, expected) in cases {
            let message = plain_words(raw, "field");
            assert_eq!(message, expected, "for {raw}");
            assert_plain(&message);
        }
    }

    #[test]
    fn our_own_sentences_pass_through() {
        assert_eq!(
            plain_words("must look like +08:00 or -05:00", "utc_offset"),
            "must look like +08:00 or -05:00"
        );
    }
}
