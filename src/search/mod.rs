//! Search as staff ask: by the tail of a phone number, by any part of a name or nickname
//! (Chinese included), by an order number or a review id quoted by the buyer, by the words
//! of a ticket. Exact and prefix matches rank before the others.
//!
//! Substrings are served by gram tables (`customer_search_grams`, `ticket_search_grams`):
//! each entity's distinct characters and pairs of adjacent characters, written in the
//! same transaction as the text, identical on both backends, and walked newest first so a
//! page stops after its rows. Phone tails are a prefix of the reversed digits
//! (`customer_contacts.tail_key`). The rules here are pure; `store` holds the SQL.
//!
//! A ticket is also indexed by its buyer: the buyer's name and nickname grams (marked
//! `@`), name start grams (`^`) and phone tails (`#`), rewritten with the buyer's. A
//! search for "the buyer whose number ends in 8000" then walks one gram list of tickets,
//! as a search for a ticket's words does, instead of reading the buyers first and then
//! their tickets (which reads thousands of tickets when the buyers are many).

pub mod matchers;
pub mod store;

use std::collections::BTreeSet;

/// The version of the gram rules below. Raising it makes the server rebuild both gram
/// tables at start-up (also how rows written before the tables existed get indexed).
pub const INDEX_VERSION: i32 = 3;

/// A query uses at most this many grams: enough to pin a phrase, bounded work per page.
const MAX_QUERY_GRAMS: usize = 6;

/// The fewest digits that make a phone-tail search ("ends in 8000").
pub const MIN_TAIL_DIGITS: usize = 4;

/// Text as it is indexed and searched: lower case, full-width forms folded to ASCII.
pub fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Runs of letters and digits (any script); everything else separates words. A run of
/// digits alone is left out: numbers are found as what they are (a phone's tail, an order
/// number, a review id), and the digit pairs of nicknames like `王小姐_123456` would make
/// every tail search walk long lists for nothing.
fn runs(text: &str) -> Vec<Vec<char>> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|run| !run.is_empty() && !run.chars().all(|c| c.is_ascii_digit()))
        .map(|run| run.chars().collect())
        .collect()
}

/// Marks a gram that starts a name: `^王` is "a name starting with 王".
pub const START: char = '^';

/// The start grams of a name: its first character and its first two, anchored, so that
/// "names starting with 王" (a surname: thousands of matches) is one walk in id order
/// rather than a range to sort.
pub fn start_grams(name: &str) -> Vec<String> {
    let first: Vec<char> = fold(name)
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric())
        .take(2)
        .collect();
    (1..=first.len())
        .map(|n| format!("{START}{}", first[..n].iter().collect::<String>()))
        .collect()
}

/// The start gram serving a prefix query of one or two characters (letters or digits),
/// if `q` is one.
pub fn start_query(q: &str) -> Option<String> {
    let folded: Vec<char> = fold(q.trim()).chars().collect();
    (!folded.is_empty() && folded.len() <= 2 && folded.iter().all(|c| c.is_alphanumeric()))
        .then(|| format!("{START}{}", folded.iter().collect::<String>()))
}

fn pairs(run: &[char], into: &mut BTreeSet<String>) {
    for pair in run.windows(2) {
        into.insert(pair.iter().collect());
    }
}

/// Names and nicknames are short: every character and every adjacent pair, so one
/// character (`王`) is as findable as two (`小姐`).
pub fn name_grams(text: &str) -> BTreeSet<String> {
    let mut grams = BTreeSet::new();
    for run in runs(text) {
        for c in &run {
            grams.insert(c.to_string());
        }
        pairs(&run, &mut grams);
    }
    grams
}

/// Ticket text (titles, review texts, notes) is long: adjacent pairs only, the classic
/// bigram index for Chinese text; a one-character word is kept as it is.
pub fn text_grams(text: &str) -> BTreeSet<String> {
    let mut grams = BTreeSet::new();
    for run in runs(text) {
        if run.len() == 1 {
            grams.insert(run[0].to_string());
        }
        pairs(&run, &mut grams);
    }
    grams
}

/// The grams every match of `q` holds: its pairs (or its one character), at most
/// `MAX_QUERY_GRAMS`, taken evenly along the query. Empty when `q` has no letter or digit.
pub fn query_grams(q: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for run in runs(q) {
        if run.len() == 1 {
            all.push(run[0].to_string());
        }
        for pair in run.windows(2) {
            let gram: String = pair.iter().collect();
            if !all.contains(&gram) {
                all.push(gram);
            }
        }
    }
    if all.len() <= MAX_QUERY_GRAMS {
        return all;
    }
    let step = all.len() as f64 / MAX_QUERY_GRAMS as f64;
    (0..MAX_QUERY_GRAMS)
        .map(|i| all[(i as f64 * step) as usize].clone())
        .collect()
}

/// Marks a gram of a ticket's buyer's name or nickname (`@王`), apart from its own text's.
pub const BUYER: char = '@';

/// Marks a phone-tail gram of a ticket's buyer (`#0008`: ends in 8000).
pub const TAIL: char = '#';

/// Tail grams hold the last 4 to this many digits: a longer tail walks the gram of its
/// last 7 digits (about one buyer in ten million shares it) and checks the rest.
pub const TAIL_GRAM_DIGITS: usize = 7;

/// A buyer's grams on their tickets: name and nickname grams marked as the buyer's, the
/// name's start grams, and the tails of their phones.
pub fn buyer_grams<'a>(
    name: &str,
    nicknames: impl IntoIterator<Item = &'a str>,
    phones: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut own = name_grams(name);
    for nickname in nicknames {
        own.extend(name_grams(nickname));
    }
    let mut grams: BTreeSet<String> = own.into_iter().map(|g| format!("{BUYER}{g}")).collect();
    grams.extend(start_grams(name));
    for phone in phones {
        let reversed: String = tail_key(phone)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        for digits in MIN_TAIL_DIGITS..=TAIL_GRAM_DIGITS.min(reversed.len()) {
            grams.insert(format!("{TAIL}{}", &reversed[..digits]));
        }
    }
    grams
}

/// Query grams as they are marked for a ticket's buyer.
pub fn buyer_query_grams(grams: &[String]) -> Vec<String> {
    grams.iter().map(|g| format!("{BUYER}{g}")).collect()
}

/// The tail gram a phone-tail query (reversed digits) walks, and whether the gram holds
/// the whole tail (otherwise each candidate's phones are checked).
pub fn tail_gram(tail: &str) -> (String, bool) {
    let digits = tail.len().min(TAIL_GRAM_DIGITS);
    (
        format!("{TAIL}{}", &tail[..digits]),
        tail.len() <= TAIL_GRAM_DIGITS,
    )
}

/// The stored tail key of a phone handle: its characters reversed.
pub fn tail_key(phone: &str) -> String {
    phone.chars().rev().collect()
}

/// The tail-key prefix for a query that is the end of a phone number: four or more
/// digits (separators and full-width digits allowed), reversed.
pub fn tail_query(q: &str) -> Option<String> {
    let folded = fold(q);
    let digits: String = folded.chars().filter(char::is_ascii_digit).collect();
    let only_digits = folded
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'));
    (only_digits && digits.len() >= MIN_TAIL_DIGITS).then(|| tail_key(&digits))
}

/// How a phone number is shown in lists: the first three and last four digits
/// (`138****8000`); short numbers keep only their last two.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n >= 9 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    } else {
        let keep = n.min(2);
        let tail: String = chars[n - keep..].iter().collect();
        format!("{}{tail}", "*".repeat(n - keep))
    }
}

/// Largest character in byte order: `key >= q AND key < q || PREFIX_END` is a prefix match
/// that an index range can serve, on both backends (PostgreSQL columns use the "C" collation).
pub const PREFIX_END: char = '\u{10FFFF}';

/// A search box's text, read every way staff mean it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// As names are keyed (lower case): exact and prefix matches of a name.
    pub name_key: String,
    /// As handles are stored (phone digits, lower case): exact and prefix matches of a handle.
    pub handle_key: String,
    /// As typed (trimmed): order numbers and review ids are matched exactly.
    pub exact: String,
    /// Grams every substring match holds (empty: no substring search).
    pub grams: Vec<String>,
    /// The reversed digits of a phone tail (four digits or more).
    pub tail: Option<String>,
    /// The start gram of a one- or two-character name prefix (`^王`).
    pub start: Option<String>,
}

impl Terms {
    /// `name_key` and `handle_key` come from the customer rules, which own those forms.
    pub fn new(q: &str, name_key: String, handle_key: String) -> Terms {
        Terms {
            name_key,
            handle_key,
            exact: q.trim().to_owned(),
            grams: query_grams(q),
            tail: tail_query(q),
            start: start_query(q),
        }
    }

    /// The end of the prefix range starting at `key`.
    pub fn prefix_end(key: &str) -> String {
        format!("{key}{PREFIX_END}")
    }
}

/// Where a search result ranks: exact and prefix matches first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Rank {
    /// The query is the whole or the start of a name or handle, an order number, a review id.
    Leading = 0,
    /// The query is elsewhere: inside a name, nickname or ticket text, or a phone's tail.
    Inside = 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_indexed_by_characters_and_pairs() {
        assert_eq!(
            name_grams("王小姐"),
            set(&["王", "小", "姐", "王小", "小姐"])
        );
        assert_eq!(name_grams("Li Na"), set(&["l", "i", "n", "a", "li", "na"]));
        assert_eq!(name_grams("ＬＩＮＡ"), name_grams("lina"));
        assert!(name_grams("  -- ").is_empty());
    }

    #[test]
    fn ticket_text_is_indexed_by_pairs() {
        assert_eq!(text_grams("屏幕 碎了"), set(&["屏幕", "碎了"]));
        assert_eq!(text_grams("a crack"), set(&["a", "cr", "ra", "ac", "ck"]));
    }

    #[test]
    fn queries_hold_the_grams_of_every_match() {
        assert_eq!(query_grams("王"), vec!["王"]);
        assert_eq!(query_grams("小姐"), vec!["小姐"]);
        assert_eq!(query_grams("王小姐"), vec!["王小", "小姐"]);
        assert_eq!(query_grams("!!"), Vec::<String>::new());
        assert_eq!(query_grams("abcdefghijklmnop").len(), MAX_QUERY_GRAMS);
        for q in ["王小姐", "lina的小店", "屏幕碎了"] {
            let indexed = name_grams(&format!("某{q}某"));
            assert!(query_grams(q).iter().all(|g| indexed.contains(g)), "{q}");
        }
    }

    #[test]
    fn numbers_are_not_grams_and_names_have_start_grams() {
        assert_eq!(name_grams("王小姐_123456"), name_grams("王小姐"));
        assert!(query_grams("8000").is_empty());
        assert_eq!(
            query_grams("lina1990"),
            vec!["li", "in", "na", "a1", "19", "99", "90"][..6].to_vec()
        );
        assert_eq!(start_grams("王小姐"), vec!["^王", "^王小"]);
        assert_eq!(start_grams("Ｌi Na"), vec!["^l", "^li"]);
        assert_eq!(start_grams("王"), vec!["^王"]);
        assert!(start_grams(" -").is_empty());
        assert_eq!(start_query("王").as_deref(), Some("^王"));
        assert_eq!(start_query("王小").as_deref(), Some("^王小"));
        assert_eq!(start_query("王小姐"), None);
        assert_eq!(start_query("%"), None);
    }

    #[test]
    fn phone_tails_are_reversed_digit_prefixes() {
        assert_eq!(tail_query("8000").as_deref(), Some("0008"));
        assert_eq!(tail_query("８０００").as_deref(), Some("0008"));
        assert_eq!(tail_query("13 8000").as_deref(), Some("000831"));
        assert_eq!(tail_query("800"), None);
        assert_eq!(tail_query("王8000"), None);
        assert!(tail_key("13800138000").starts_with(&tail_query("8000").unwrap()));
    }

    #[test]
    fn tickets_carry_their_buyers_grams_marked() {
        let grams = buyer_grams("王小姐", ["lina的店"], ["13800138000"]);
        for gram in [
            "@王", "@小姐", "^王", "^王小", "@li", "@的店", "#0008", "#0008310",
        ] {
            assert!(grams.contains(gram), "{gram} in {grams:?}");
        }
        assert!(
            !grams.contains("#00083100"),
            "tails stop at {TAIL_GRAM_DIGITS} digits"
        );
        assert!(
            !grams.contains("王"),
            "a buyer's grams are apart from the ticket's text"
        );
        assert!(
            buyer_grams("王", [], ["123"])
                .iter()
                .all(|g| !g.starts_with(TAIL))
        );
        assert_eq!(buyer_query_grams(&query_grams("小姐")), vec!["@小姐"]);
        let tail = tail_query("8000").unwrap();
        assert_eq!(tail_gram(&tail), ("#0008".to_owned(), true));
        let long = tail_query("38000138000").unwrap();
        assert_eq!(tail_gram(&long), ("#0008310".to_owned(), false));
        assert!(grams.contains(&tail_gram(&long).0));
    }

    #[test]
    fn phones_are_masked_in_lists() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("+85291234567"), "+85*****4567");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_phone(""), "");
    }
}
