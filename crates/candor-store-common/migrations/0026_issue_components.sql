-- An issue's reach stored compactly: the components it covers (resolved when it was
-- declared or widened), not one row per affected tenant. A tenant is affected when it is
-- named in issue_tenants or placed on one of these components. Placements are only ever
-- added and a covered component stays covered, so a tenant once affected stays affected
-- whatever the topology does later. Issues declared before this migration keep their
-- issue_tenants rows, which are still read.
CREATE TABLE issue_components (
    issue_id  TEXT NOT NULL REFERENCES issues (id),
    component TEXT NOT NULL REFERENCES components (id),
    since     {{time}} NOT NULL,
    PRIMARY KEY (issue_id, component)
);
CREATE INDEX issue_components_component ON issue_components (component, issue_id);
