//! Reading the TOML into the raw structs, with every type error reported, not only the
//! first: when the document does not fit, each top-level section (each element of an array
//! of tables) is read again on its own, so one wrong value per section is named with its
//! line. A syntax error stops the reading (nothing after it can be trusted).

use serde::Deserialize;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::ConfigIssue;

/// `text` as `T`, or every section that does not fit it.
pub(super) fn read<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Vec<ConfigIssue>> {
    let first = match toml::from_str::<T>(text) {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let Ok(root) = DeTable::parse(text) else {
        return Err(vec![issue(&first)]);
    };
    let mut issues = Vec::new();
    for (key, value) in root.get_ref().iter() {
        for part in parts(value) {
            let mut alone = DeTable::new();
            alone.insert(key.clone(), part);
            let de = toml::de::Deserializer::from(Spanned::new(root.span(), alone));
            if let Err(mut e) = T::deserialize(de) {
                e.set_input(Some(text));
                issues.push(issue(&e));
            }
        }
    }
    if issues.is_empty() {
        // Only the whole document fails (e.g. two sections disagree): say what it said.
        issues.push(issue(&first));
    }
    Err(issues)
}

/// A section, or each table of an array of tables alone (in an array of one, spanning that
/// table, so an error serde cannot place closer names the table's line).
fn parts<'i>(value: &Spanned<DeValue<'i>>) -> Vec<Spanned<DeValue<'i>>> {
    match value.get_ref() {
        DeValue::Array(items)
            if items
                .iter()
                .all(|i| matches!(i.get_ref(), DeValue::Table(_))) =>
        {
            items
                .iter()
                .map(|item| {
                    let mut one = DeArray::new();
                    one.push(item.clone());
                    Spanned::new(item.span(), DeValue::Array(one))
                })
                .collect()
        }
        _ => vec![value.clone()],
    }
}

fn issue(e: &toml::de::Error) -> ConfigIssue {
    ConfigIssue {
        path: String::new(),
        message: e.to_string().trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn every_type_error_is_reported_with_its_line() {
        let text = "[server]\nmax_body_bytes = \"big\"\n\n[worker]\nmax_receive = -1\n\n\
                    [[sinks]]\nkind = \"stdout\"\n\n[[sinks]]\nkind = \"file\"\npath = 7\n\n\
                    [[providers]]\nname = \"a\"\nscheme = \"stripe\"\nsecrets = \"not a list\"\n";
        let err = Config::from_toml(text, &env).unwrap_err();
        let all = err.to_string();
        assert_eq!(err.issues.len(), 4, "{all}");
        for (line, what) in [
            (2, "max_body_bytes"),
            (5, "max_receive"),
            // An internally tagged table (a sink) is buffered by serde: its line, not the key's.
            (10, "integer `7`, expected a string"),
            (17, "secrets"),
        ] {
            assert!(
                err.issues.iter().any(
                    |i| i.message.contains(&format!("line {line}")) && i.message.contains(what)
                ),
                "line {line} ({what}) not named in:\n{all}"
            );
        }
    }

    #[test]
    fn a_syntax_error_is_reported_alone() {
        let err =
            Config::from_toml("[server]\nmax_body_bytes = \n[worker]\nx = \"\n", &env).unwrap_err();
        assert_eq!(err.issues.len(), 1, "{err}");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
