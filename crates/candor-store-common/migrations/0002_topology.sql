-- Catalog (services, features), topology (regions, scale units, components) and
-- placement (which components each tenant lives on).

CREATE TABLE services (
    id           TEXT {{key}},
    display_name TEXT NOT NULL,
    issue_prefix TEXT NOT NULL
);
CREATE UNIQUE INDEX services_issue_prefix ON services (issue_prefix);

CREATE TABLE service_features (
    service_id    TEXT NOT NULL REFERENCES services (id),
    feature_group TEXT NOT NULL,
    name          TEXT NOT NULL,
    PRIMARY KEY (service_id, feature_group, name)
);

CREATE TABLE regions (
    code         TEXT {{key}},
    display_name TEXT NOT NULL
);

CREATE TABLE scale_units (
    id     TEXT {{key}},
    region TEXT NOT NULL REFERENCES regions (code)
);

CREATE TABLE components (
    id         TEXT {{key}},
    scale_unit TEXT NOT NULL REFERENCES scale_units (id)
);

CREATE TABLE component_services (
    component  TEXT NOT NULL REFERENCES components (id),
    service_id TEXT NOT NULL REFERENCES services (id),
    PRIMARY KEY (component, service_id)
);

CREATE TABLE placements (
    tenant_id {{uuid}} NOT NULL REFERENCES tenants (id),
    component TEXT NOT NULL REFERENCES components (id),
    PRIMARY KEY (tenant_id, component)
);
CREATE INDEX placements_component ON placements (component, tenant_id);
