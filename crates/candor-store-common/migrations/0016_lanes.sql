-- Lanes: each delivery channel and each kind of job is claimed on its own, so one that
-- is stuck (a relay that never answers, a bucket that hangs) cannot fill the claims of
-- the others. Deliveries are claimed by channel; a job's lane is named by its kind and
-- written when it is queued (jobs queued before this migration run in the general lane).
CREATE INDEX deliveries_lane_due ON deliveries (channel, status, run_at);
ALTER TABLE jobs ADD COLUMN lane TEXT NOT NULL DEFAULT 'general';
CREATE INDEX jobs_lane_due ON jobs (lane, status, run_at);
