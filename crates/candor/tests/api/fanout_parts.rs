//! Where several instances share the database, a fan-out that reaches more tenants than
//! a part holds is split into parts (contiguous ranges of tenant ids) that the job
//! runners of every instance claim side by side; together they queue every delivery
//! exactly once. On the embedded store (one serving process) it runs whole.

use std::collections::BTreeSet;
use std::sync::Arc;

use candor::jobs::{JobRunner, Outcome};
use candor_app::health;
use candor_app::Core;
use candor_domain::health::{delivery_id, delivery_key, Channel};
use candor_domain::identity::Actor;

use crate::common::TestApp;

const TENANTS: usize = 45;
const PART: usize = 10;

async fn a_large_fan_out_is_shared_by_the_instances_and_queues_everything_once(app: TestApp) {
    // Two instances on the one store, each splitting fan-outs into parts of ten tenants.
    let instance = || async {
        let mut core = Core::new(app.core.store.clone(), app.clock.clone())
            .await
            .unwrap();
        core.fanout_part_tenants = PART;
        Arc::new(core)
    };
    let (one, two) = (instance().await, instance().await);
    let (_, endpoints) =
        crate::crash::tenants_with_webhooks(&one, TENANTS, "http://127.0.0.1:9/hook").await;
    let (issue, affected) =
        health::create_issue(&one, &Actor::System, None, crate::crash::region_incident())
            .await
            .unwrap();
    assert_eq!(affected as usize, TENANTS);

    // Each instance's runner takes a job in turn until neither finds one.
    let runners = [
        JobRunner::new(one.clone()).with_public_url(app.base.clone()),
        JobRunner::new(two.clone()).with_public_url(app.base.clone()),
    ];
    let mut parts_run = [0usize; 2];
    let mut wholes = 0;
    loop {
        let mut ran = false;
        for (i, runner) in runners.iter().enumerate() {
            match runner.run_one().await.unwrap() {
                Some(Outcome::Done(id)) => {
                    ran = true;
                    let job = app.core.store.get_job(id).await.unwrap().unwrap();
                    if job.kind != "notify.fanout" {
                        continue;
                    }
                    if job.payload["kind"] == "part" {
                        parts_run[i] += 1;
                    } else {
                        wholes += 1;
                    }
                }
                Some(other) => panic!("a job did not finish: {other:?}"),
                None => {}
            }
        }
        if !ran {
            break;
        }
    }
    assert_eq!(wholes, 1);
    if app.core.store.sees_every_write() {
        // The embedded store has one serving process: nobody to share parts with.
        assert_eq!(parts_run, [0, 0], "the whole fan-out ran as one job");
    } else {
        assert_eq!(
            parts_run.iter().sum::<usize>(),
            TENANTS.div_ceil(PART),
            "one part per ten tenants"
        );
        assert!(
            parts_run.iter().all(|n| *n > 0),
            "both instances ran parts: {parts_run:?}"
        );
    }

    let change = format!("issue:{}:post:1", issue.id);
    let queued: Vec<String> = app
        .core
        .store
        .deliveries_of_change(&change, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let expected: BTreeSet<String> = endpoints
        .iter()
        .map(|e| delivery_id(&delivery_key(&change, &e.to_string(), Channel::Webhook)))
        .collect();
    assert_eq!(queued.len(), TENANTS, "each delivery queued once");
    assert_eq!(queued.into_iter().collect::<BTreeSet<_>>(), expected);
}

crate::both!(a_large_fan_out_is_shared_by_the_instances_and_queues_everything_once);
