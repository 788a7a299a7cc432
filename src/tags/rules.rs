//! The single-choice rule of tag groups as a plain function, tested without a database:
//! which two tags of a set may not be held together.

use std::collections::{BTreeMap, BTreeSet};

use super::Tag;

/// The first two tags of `tags` in one of the `single` (single-choice) groups, with the
/// group: `(group, first, second)`. The same tag twice is one tag.
pub fn two_in_one_group<'a>(
    tags: &'a [Tag],
    single: &BTreeSet<String>,
) -> Option<(&'a str, &'a str, &'a str)> {
    let mut seen: BTreeMap<&str, &Tag> = BTreeMap::new();
    for tag in tags {
        let Some(group) = tag.tag_group.as_deref().filter(|g| single.contains(*g)) else {
            continue;
        };
        match seen.get(group) {
            Some(first) if first.id != tag.id => {
                return Some((group, first.name.as_str(), tag.name.as_str()));
            }
            Some(_) => {}
            None => {
                seen.insert(group, tag);
            }
        }
    }
    None
}

/// The 422 message for two tags of one single-choice group.
pub fn two_in_one_group_message(group: &str, first: &str, second: &str) -> String {
    format!(
        "{first:?} and {second:?} are both in the single-choice group {group:?}: a customer holds one of them"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ShopId;
    use chrono::NaiveDateTime;

    fn tag(id: i64, name: &str, group: Option<&str>) -> Tag {
        Tag {
            id,
            shop_id: ShopId(1),
            name: name.into(),
            tag_group: group.map(str::to_owned),
            created_at: NaiveDateTime::default(),
            name_key: super::super::name_key(name),
        }
    }

    #[test]
    fn two_tags_of_a_single_choice_group_are_named() {
        let single: BTreeSet<String> = ["visit".to_owned()].into();
        let tags = [
            tag(1, "VIP", None),
            tag(2, "Y", Some("visit")),
            tag(3, "Beijing", Some("region")),
            tag(4, "Shanghai", Some("region")),
            tag(5, "N", Some("visit")),
        ];
        assert_eq!(two_in_one_group(&tags, &single), Some(("visit", "Y", "N")));
        // Multiple-choice groups hold any number; the same tag twice is one.
        assert_eq!(two_in_one_group(&tags[..4], &single), None);
        let twice = [tag(2, "Y", Some("visit")), tag(2, "Y", Some("visit"))];
        assert_eq!(two_in_one_group(&twice, &single), None);
        assert_eq!(two_in_one_group(&tags, &BTreeSet::new()), None);
    }
}
