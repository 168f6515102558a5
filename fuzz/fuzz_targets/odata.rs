//! The Graph API's OData parser: any `$filter`, `$orderby` or `$select` text either
//! parses or is refused with an error; it never panics, and a parsed filter evaluates
//! against an issue-shaped object without panicking.
#![no_main]

use candor_web::graph::odata;
use libfuzzer_sys::fuzz_target;

const FIELDS: &[&str] = &[
    "id", "title", "startDateTime", "endDateTime", "lastModifiedDateTime", "classification",
    "status", "service", "isResolved", "tags", "services", "details", "posts", "severity",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let sample = serde_json::json!({
        "id": "EX100000", "title": "Mail is delayed", "status": "serviceDegradation",
        "classification": "incident", "service": "Exchange Online", "isResolved": false,
        "startDateTime": "2026-11-22T08:00:00Z", "endDateTime": null,
        "lastModifiedDateTime": "2026-11-22T09:30:00.123Z", "severity": "high",
        "tags": ["Retirement", "Admin impact"], "services": ["Exchange Online"],
        "details": [{"name": "ExternalLink", "value": "https://example.com"}], "posts": [],
    });
    if let Ok(expr) = odata::parse_filter(text, FIELDS) {
        let _ = odata::matches(&expr, &sample);
    }
    if let Ok(keys) = odata::parse_orderby(text, FIELDS) {
        let mut items = vec![sample.clone(), serde_json::json!({"id": 1}), serde_json::Value::Null];
        odata::sort(&mut items, &keys);
    }
    let _ = odata::parse_select(text, FIELDS);
});
