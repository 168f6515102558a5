//! What Message Center pages show alike to tenants and operators: labels and sizes.

use candor_domain::health::{Category, Message, Service, Severity};

use candor_app::i18n::Tr;

pub(crate) fn category_label(tr: &Tr, c: Category) -> String {
    tr.t(&format!("category-{}", c.as_str()))
}

pub(crate) fn severity_label(tr: &Tr, s: Severity) -> String {
    tr.t(&format!("severity-{}", s.as_str()))
}

pub(crate) fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Normal => "info",
        Severity::High => "warn",
        Severity::Critical => "bad",
    }
}

pub(crate) fn service_names(m: &Message, catalog: &[Service]) -> String {
    m.services
        .iter()
        .map(|id| {
            catalog
                .iter()
                .find(|s| &s.id == id)
                .map_or(id.to_string(), |s| s.display_name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn human_size(bytes: i64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
