//! Tests of the alert_rules processor.
