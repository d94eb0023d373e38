#pragma once
// Holds (DESIGN.md "Containment units"): while a hold on an account, one of its credentials
// or one of its sub-users (messages.sub_user) is active, none of the unit's mail is delivered.
// Three things make that so, whichever comes first:
//   - claims park every due recipient of a held unit as 'held' instead of leasing it
//     (claims.cpp), so nothing of the unit leaves once the hold has committed;
//   - a queue job (queue_jobs.hpp) parks the rest of the unit's queued mail in batches,
//     so the queue shows it held at once, however long its retry schedule;
//   - releasing the hold starts a job that gives back what it parked, as queued or
//     deferred, due now.
// Each statement below is one statement of the caller's transaction, so the hold, the
// change that caused it (a suspension, a disabled credential) and the audit row commit
// together.

#include <string_view>

namespace smarthost::queue {

// Machine-readable reasons (holds.reason) that smarthost places itself.
inline constexpr std::string_view k_hold_account_suspended = "account_suspended";
inline constexpr std::string_view k_hold_credential_disabled = "credential_disabled";
inline constexpr std::string_view k_hold_operator = "operator";

// Places the hold of reason account_suspended on account $1 if it is suspended and not
// yet held for that reason, or releases it if the account is active; $2 is the actor.
// Follow with start_hold_jobs_sql() in the same transaction.
std::string_view reconcile_account_hold_sql();

// The same for credential $1 and credential_disabled: held while the credential is
// disabled, released once it is enabled again.
std::string_view reconcile_credential_hold_sql();

// Starts the job of every hold that lacks one: a 'hold' job for an active hold, a
// 'release' job for a released one, each with its webhook event (account.held,
// account.released). Idempotent; no parameters. Also run periodically by
// the job runner, so a hold placed by any other path is applied all the same.
std::string_view start_hold_jobs_sql();

}  // namespace smarthost::queue
