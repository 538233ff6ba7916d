//! Masking of sensitive values where a reader needs to tell records apart but not to read the
//! value: ID numbers, phones and bank accounts. One set of rules for the server's rosters and
//! exports and the device's JSON API.

use crate::model::Household;
use crate::rules::resident_id::ResidentId;

/// 138****5678: the first 3 and last 4 characters; a value shorter than 7 is hidden whole.
pub fn phone(phone: &str) -> String {
    keep_ends(phone, 3, 4)
}

/// An ID number masked as the ID rules do ([`ResidentId::masked`]); text that is no valid ID is
/// hidden whole.
pub fn id_number(id: &str) -> String {
    ResidentId::parse(id)
        .map(|r| r.masked())
        .unwrap_or_else(|_| "*".repeat(id.chars().count()))
}

/// A bank account: the last 4 characters only.
pub fn account(account: &str) -> String {
    keep_ends(account, 0, 4)
}

fn keep_ends(text: &str, start: usize, end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < start + end + 3 {
        return "*".repeat(chars.len());
    }
    chars[..start]
        .iter()
        .chain(std::iter::repeat_n(&'*', chars.len() - start - end))
        .chain(&chars[chars.len() - end..])
        .collect()
}

/// `h` with every ID number, phone and bank account masked, as a household's page shows it.
pub fn household(mut h: Household) -> Household {
    let mask = |v: &mut Option<String>, f: fn(&str) -> String| {
        if let Some(s) = v.as_mut() {
            *s = f(s);
        }
    };
    mask(&mut h.info.phone, phone);
    mask(&mut h.info.bank_account, account);
    for m in h.members.values_mut() {
        mask(&mut m.id_number, id_number);
        mask(&mut m.phone, phone);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_only_what_tells_records_apart() {
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("123"), "***");
        assert_eq!(account("6228480012345678901"), "***************8901");
        assert_eq!(account("12345"), "*****");
        let id = crate::demo::id_number("19800101", "123");
        assert_eq!(
            id_number(&id),
            format!("{}**********{}", &id[..4], &id[14..])
        );
        assert_eq!(id_number("not an id"), "*********");
    }
}
