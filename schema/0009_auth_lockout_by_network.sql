-- Lock the attacker, not the victim (docs/policy.md, "Authentication abuse"; DESIGN.md
-- contract 8). Failures are now counted per client network ('network': an IPv4 address
-- or an IPv6 /64), per username from one network ('username_network', key
-- "<network>|<username>") and per username from anywhere ('username'). Only the first two
-- refuse logins; a 'username' row in auth_lockouts marks a username under attack
-- (successful logins then go to auth_suspicious_logins), it never refuses the right
-- password.

ALTER TABLE auth_failures DROP CONSTRAINT auth_failures_kind_check;
ALTER TABLE auth_lockouts DROP CONSTRAINT auth_lockouts_kind_check;
UPDATE auth_failures SET kind = 'network' WHERE kind = 'ip';
UPDATE auth_lockouts SET kind = 'network' WHERE kind = 'ip';
ALTER TABLE auth_failures ADD CONSTRAINT auth_failures_kind_check
    CHECK (kind IN ('network', 'username_network', 'username'));
ALTER TABLE auth_lockouts ADD CONSTRAINT auth_lockouts_kind_check
    CHECK (kind IN ('network', 'username_network', 'username'));

-- Why a successful login was recorded: the address is in an auth_suspicious DNSBL zone
-- ('dnsbl', zones names them), or the username had failed logins from elsewhere past
-- [auth] username_alert_failures ('failed_logins', zones empty).
ALTER TABLE auth_suspicious_logins
    ADD COLUMN reason text NOT NULL DEFAULT 'dnsbl' CHECK (reason IN ('dnsbl', 'failed_logins'));
