-- Retention (relay/queue/retention.cpp): the delivery role deletes refusals and
-- suspicious logins past their retention, oldest first and in batches. These indexes let
-- it find them without reading the whole table on every run. (0009 is left to the
-- authentication-abuse redesign under way at the same time.)
CREATE INDEX rejections_created_idx ON rejections (created_at);
CREATE INDEX auth_suspicious_logins_logged_in_idx ON auth_suspicious_logins (logged_in_at);
