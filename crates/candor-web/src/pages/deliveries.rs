//! A delivery as both delivery logs show it.

use candor_domain::health::{Delivery, DeliveryStatus};

use candor_app::i18n::Tr;

pub struct DeliveryRow {
    pub id: String,
    pub when: String,
    pub change: String,
    pub channel: String,
    pub recipient: String,
    pub status: String,
    pub status_key: &'static str,
    pub error: Option<String>,
}

pub(crate) fn row(tr: &Tr, d: &Delivery) -> DeliveryRow {
    let mut status = tr.t(&format!("deliveries-status-{}", d.status.as_str()));
    if d.attempts > 1 {
        status = format!(
            "{status} · {}",
            tr.ta("deliveries-attempts", &[("count", d.attempts.to_string())])
        );
    }
    if d.status == DeliveryStatus::Pending && d.attempts > 0 {
        status = format!(
            "{status} · {}",
            tr.ta("deliveries-next-attempt", &[("time", tr.time(&d.run_at))])
        );
    }
    DeliveryRow {
        id: d.id.clone(),
        when: tr.time(&d.sent_at.unwrap_or(d.created_at)),
        change: change_name(tr, &d.change),
        channel: tr.t(&format!("deliveries-channel-{}", d.channel.as_str())),
        recipient: d.recipient.clone(),
        status,
        status_key: d.status.as_str(),
        error: (d.status != DeliveryStatus::Sent)
            .then(|| d.last_error.clone())
            .flatten(),
    }
}

/// A change key in words: "EX123456, update 2", "MC123456", "test".
pub(crate) fn change_name(tr: &Tr, change: &str) -> String {
    let parts: Vec<&str> = change.split(':').collect();
    match parts.as_slice() {
        ["issue", id, "post", n] => tr.ta(
            "deliveries-change-post",
            &[("id", (*id).to_owned()), ("number", (*n).to_owned())],
        ),
        ["issue", id, "review"] => tr.ta("deliveries-change-review", &[("id", (*id).to_owned())]),
        ["message", id] => (*id).to_owned(),
        ["test", ..] => tr.t("deliveries-change-test"),
        _ => change.to_owned(),
    }
}
