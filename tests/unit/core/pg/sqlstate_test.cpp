#include "core/pg/sqlstate.hpp"

#include <gtest/gtest.h>

namespace smarthost::pg {
namespace {

TEST(SqlState, ConnectionExceptionsMeanTheServerIsUnavailable) {
    EXPECT_EQ(classify("08000"), SqlStateClass::unavailable);  // connection_exception
    EXPECT_EQ(classify("08006"), SqlStateClass::unavailable);  // connection_failure
    EXPECT_EQ(classify("08P01"), SqlStateClass::unavailable);  // protocol_violation
}

TEST(SqlState, ShutdownAndTooManyConnectionsMeanTheServerIsUnavailable) {
    EXPECT_EQ(classify("57P01"), SqlStateClass::unavailable);  // admin_shutdown
    EXPECT_EQ(classify("57P02"), SqlStateClass::unavailable);  // crash_shutdown
    EXPECT_EQ(classify("57P03"), SqlStateClass::unavailable);  // cannot_connect_now
    EXPECT_EQ(classify("53300"), SqlStateClass::unavailable);  // too_many_connections
}

TEST(SqlState, OtherOperatorInterventionsAndResourceErrorsAreNot) {
    EXPECT_EQ(classify("57014"), SqlStateClass::other);  // query_canceled
    EXPECT_EQ(classify("57P04"), SqlStateClass::other);  // database_dropped
    EXPECT_EQ(classify("53100"), SqlStateClass::other);  // disk_full
}

TEST(SqlState, DataExceptionsAreRefusedValues) {
    EXPECT_EQ(classify("22001"), SqlStateClass::value_too_long);
    EXPECT_EQ(classify("22003"), SqlStateClass::number_out_of_range);
    EXPECT_EQ(classify("22P02"), SqlStateClass::invalid_value);  // invalid_text_representation
    EXPECT_EQ(classify("22012"), SqlStateClass::invalid_value);  // division_by_zero
    EXPECT_EQ(classify("22000"), SqlStateClass::invalid_value);  // data_exception
}

TEST(SqlState, UniqueForeignKeyAndExclusionViolationsAreToldApart) {
    EXPECT_EQ(classify("23514"), SqlStateClass::check_violation);
    EXPECT_EQ(classify("23505"), SqlStateClass::unique_violation);
    EXPECT_EQ(classify("23503"), SqlStateClass::foreign_key_violation);
    EXPECT_EQ(classify("23P01"), SqlStateClass::exclusion_violation);
}

TEST(SqlState, OtherIntegrityViolationsAreOther) {
    EXPECT_EQ(classify("23000"), SqlStateClass::other);  // integrity_constraint_violation
    EXPECT_EQ(classify("23502"), SqlStateClass::other);  // not_null_violation
    EXPECT_EQ(classify("23001"), SqlStateClass::other);  // restrict_violation
}

TEST(SqlState, DeadlockAndSerializationFailureMeanTheTransactionWasRolledBack) {
    EXPECT_EQ(classify("40P01"), SqlStateClass::rolled_back);  // deadlock_detected
    EXPECT_EQ(classify("40001"), SqlStateClass::rolled_back);  // serialization_failure
}

TEST(SqlState, OtherTransactionRollbacksAreOther) {
    // Not known to leave nothing behind, so not known to be safe to run again.
    EXPECT_EQ(classify("40000"), SqlStateClass::other);  // transaction_rollback
    EXPECT_EQ(classify("40003"), SqlStateClass::other);  // statement_completion_unknown
    // transaction_integrity_constraint_violation
    EXPECT_EQ(classify("40002"), SqlStateClass::other);
}

TEST(SqlState, AMissingTableIsUndefinedTable) {
    EXPECT_EQ(classify("42P01"), SqlStateClass::undefined_table);
    EXPECT_EQ(classify("42703"), SqlStateClass::other);  // undefined_column
}

TEST(SqlState, NoCodeOrAnUnknownOneIsOther) {
    EXPECT_EQ(classify(""), SqlStateClass::other);
    EXPECT_EQ(classify("42601"), SqlStateClass::other);  // syntax_error
    EXPECT_EQ(classify("XX000"), SqlStateClass::other);  // internal_error
}

}  // namespace
}  // namespace smarthost::pg
