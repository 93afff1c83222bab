//! The generated part of docs/configuration.md, and the check that keeps the page
//! true to the code.
//!
//! Two tables are rendered from the domain's lists: the tenant settings
//! ([`tenancy::core::SETTINGS`] and the defaults), between the page's
//! `<!-- tenant-settings:begin -->` and `<!-- tenant-settings:end -->` markers, and
//! the per-endpoint rate limits ([`tenancy::core::limits::ENDPOINTS`]), between
//! `<!-- rate-limits:begin -->` and `<!-- rate-limits:end -->`. The unit test below
//! fails when the committed page differs from what the code says (or names a
//! `TESSERA_*` variable the server does not read, or misses one it does); run it
//! with `TESSERA_BLESS=1` to rewrite the tables:
//! `TESSERA_BLESS=1 cargo test -p api configuration_doc`.

use tenancy::core::{Bounds, SETTINGS, TenantSettings, limits::ENDPOINTS};

/// Where the generated settings table starts in docs/configuration.md.
pub const BEGIN: &str =
    "<!-- tenant-settings:begin (generated from tenancy/src/core/settings.rs; do not edit) -->";
/// Where it ends.
pub const END: &str = "<!-- tenant-settings:end -->";
/// Where the generated rate-limit table starts.
pub const LIMITS_BEGIN: &str =
    "<!-- rate-limits:begin (generated from tenancy/src/core/limits.rs; do not edit) -->";
/// Where it ends.
pub const LIMITS_END: &str = "<!-- rate-limits:end -->";

/// The Markdown table of every tenant setting: name, default, accepted values and
/// what it does.
pub fn tenant_settings_table() -> String {
    let defaults = serde_json::to_value(TenantSettings::default()).unwrap_or_default();
    let mut out = String::from("| setting | default | accepts | meaning |\n|---|---|---|---|\n");
    for setting in SETTINGS {
        let default = defaults
            .get(setting.name)
            .map_or_else(String::new, render_default);
        let accepts = match setting.bounds {
            Bounds::Range(lo, hi) => {
                format!("{}–{}", thousands(u64::from(lo)), thousands(u64::from(hi)))
            }
            Bounds::Rule(rule) => rule.to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {default} | {accepts} | {} |\n",
            setting.name, setting.description
        ));
    }
    out
}

/// The Markdown table of every rate-limited endpoint with its default limit.
pub fn rate_limits_table() -> String {
    let mut out = String::from(
        "| endpoint | guards | counts | per address | per target (which) | window |\n\
         |---|---|---|---:|---|---:|\n",
    );
    for endpoint in ENDPOINTS {
        let limit = endpoint.default;
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} ({}) | {} s |\n",
            endpoint.name,
            endpoint.route,
            endpoint.counts.name(),
            thousands(u64::from(limit.per_address)),
            thousands(u64::from(limit.per_target)),
            endpoint.target,
            thousands(u64::from(limit.window_secs)),
        ));
    }
    out
}

/// `docs` with its generated tables replaced by the current ones; `None` when a
/// marker is missing.
pub fn with_current_tables(docs: &str) -> Option<String> {
    let docs = replace_between(docs, BEGIN, END, &tenant_settings_table())?;
    replace_between(&docs, LIMITS_BEGIN, LIMITS_END, &rate_limits_table())
}

fn replace_between(docs: &str, begin: &str, end: &str, table: &str) -> Option<String> {
    let start = docs.find(begin)? + begin.len();
    let end = start + docs[start..].find(end)?;
    Some(format!("{}\n{table}{}", &docs[..start], &docs[end..]))
}

/// Every environment variable the process settings read.
pub fn process_variables() -> Vec<String> {
    use clap::Args;
    let command = crate::config::Settings::augment_args(clap::Command::new("tessera"));
    command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect()
}

fn render_default(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => n.as_u64().map_or_else(|| n.to_string(), thousands),
        serde_json::Value::String(s) => format!("`{s}`"),
        serde_json::Value::Object(_) => "see below".to_owned(),
        other => format!("`{other}`"),
    }
}

/// `2592000` as `2,592,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");

    #[test]
    fn docs_configuration_md_lists_the_tenant_settings_the_code_has() {
        let docs = std::fs::read_to_string(PAGE).unwrap();
        let current = with_current_tables(&docs).expect("docs/configuration.md lost its markers");
        if std::env::var_os("TESSERA_BLESS").is_some() {
            std::fs::write(PAGE, &current).unwrap();
            return;
        }
        assert!(
            current == docs,
            "docs/configuration.md is out of date with tenancy/src/core/{{settings,limits}}.rs; \
             rewrite it with `TESSERA_BLESS=1 cargo test -p api configuration_doc`"
        );
    }

    #[test]
    fn docs_configuration_md_names_every_process_variable_and_no_other() {
        let docs = std::fs::read_to_string(PAGE).unwrap();
        let section = docs
            .split("## Process settings")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap();
        let mut documented: Vec<String> = section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_owned)
            .filter(|name| name != "TESSERA_LOG")
            .collect();
        let mut read = process_variables();
        documented.sort();
        read.sort();
        assert_eq!(documented, read);
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(600), "600");
        assert_eq!(thousands(3_600), "3,600");
        assert_eq!(thousands(31_536_000), "31,536,000");
    }
}
